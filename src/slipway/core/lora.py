"""Which LoRA adapter a llama.cpp request runs with, chosen per request (no base reload).

llama-server loads its adapters once, at start, and numbers them in load
order. A request may carry `"lora": [{"id": 0, "scale": 1.0}, ...]`, which
applies to that request only; a request without it runs with every loaded
adapter at its global scale. So slipway always sends the full list, with the
slot's adapter at 1.0 and every other at 0.0 (all 0.0 for a base-model slot).
That makes an adapter rollback a route-table change — no call to the engine,
in-flight requests untouched, the next request on the old adapter.

An adapter is named in config the way people name them: a version (`v2.1`),
a file name, a stem, or a path; `match_adapter` resolves that name against
the paths the engine loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from slipway.core.errors import NotFoundError


def adapter_matches(name: str, path: str) -> bool:
    """`v2.1`, `v2.1-2026-01-15-1247examples`, `...gguf` and the full path all name the same file."""
    p = PurePath(path)
    wanted = name.strip()
    if wanted in (path, p.name, p.stem):
        return True
    return p.stem.startswith(wanted + "-")


def same_adapter(a: str, b: str) -> bool:
    """Two names for one adapter, whichever is the short form (`v2.1` and its file name agree)."""
    return adapter_matches(a, b) or adapter_matches(b, a)


def match_adapter(loaded: Sequence[str], name: str, *, where: str) -> int:
    """The engine's id for adapter `name`; a NotFoundError lists what the engine did load."""
    hits = [i for i, path in enumerate(loaded) if adapter_matches(name, path)]
    if len(hits) == 1:
        return hits[0]
    names = ", ".join(PurePath(p).name for p in loaded) or "none"
    if not hits:
        raise NotFoundError(
            f"{where} has not loaded adapter {name!r} (loaded: {names})",
            hint="add the adapter to the engine's adapters and restart it, or deploy it to a standby "
            "slot with its own engine",
        )
    raise NotFoundError(
        f"adapter name {name!r} is ambiguous at {where}: it matches "
        + ", ".join(PurePath(loaded[i]).name for i in hits),
        hint="use the adapter's full file name",
    )


def lora_field(count: int, chosen: int | None) -> list[dict[str, Any]]:
    """The per-request `lora` list: every loaded adapter, the chosen one at 1.0."""
    return [{"id": i, "scale": 1.0 if i == chosen else 0.0} for i in range(count)]


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """A running llama-server: where it answers and which adapter files it loaded, in id order."""

    url: str
    adapters: tuple[str, ...] = ()
    #: Precomputed `lora` lists by adapter name (None: the base model alone).
    _lists: dict[str | None, list[dict[str, Any]]] = field(default_factory=dict, compare=False)

    def lora_for(self, adapter: str | None, *, where: str) -> list[dict[str, Any]]:
        cached = self._lists.get(adapter)
        if cached is None:
            chosen = None if adapter is None else match_adapter(self.adapters, adapter, where=where)
            cached = self._lists[adapter] = lora_field(len(self.adapters), chosen)
        return cached


class EngineDirectory:
    """Endpoint → running engine. Filled by whoever starts or discovers engines; read per request.

    Endpoints are either `engine://NAME` (an engine slipway runs; its port is
    chosen at start) or the http URL of a llama-server someone else runs.
    """

    def __init__(self) -> None:
        self._engines: dict[str, EngineInfo] = {}

    def publish(self, endpoint: str, info: EngineInfo) -> None:
        self._engines[endpoint] = info

    def forget(self, endpoint: str) -> None:
        self._engines.pop(endpoint, None)

    def get(self, endpoint: str) -> EngineInfo | None:
        return self._engines.get(endpoint)

    def items(self) -> list[tuple[str, EngineInfo]]:
        return list(self._engines.items())


ENGINE_SCHEME = "engine://"


def is_engine_endpoint(endpoint: str) -> bool:
    return endpoint.startswith(ENGINE_SCHEME)
