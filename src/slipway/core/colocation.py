"""Checks on a deploy plan that depend on how an inference server keeps models loaded.

Pure: they take the route table, the candidate slot and facts a backend read
(which base weights and adapters each Ollama model is built from) and return
warning or refusal text. The controller and the admin API surface them; the
backends gather the facts (`OllamaBackend.colocation_warnings`).

Ollama keeps one runner per base GGUF file and reloads it whenever a request
names a model with other adapters on that same file (its scheduler keys
runners by the model's base blob path and reloads when `AdapterPaths`
differ). So two Ollama slots on one server whose models share a base but not
an adapter never stay warm together: the blue-green promise "the old slot
stays loaded for rollback" does not hold there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from slipway.core.types import BackendKind, RouteTable, Slot


@dataclass(frozen=True, slots=True)
class ModelBuild:
    """What an Ollama model is made of: its base weights and its LoRA adapters (blob digests)."""

    base: str
    adapters: tuple[str, ...] = ()


@runtime_checkable
class ColocationAdvisor(Protocol):
    """A backend that can say what a deploy plan will cost before traffic moves."""

    async def colocation_warnings(self, table: RouteTable, slot: Slot) -> list[str]:
        """Warnings for staging `slot` next to the slots of `table` (never raises for a down server)."""
        ...


def same_server(a: Slot, b: Slot) -> bool:
    return a.endpoint.rstrip("/").lower() == b.endpoint.rstrip("/").lower()


def ollama_neighbours(table: RouteTable, slot: Slot) -> list[Slot]:
    """The other Ollama slots on `slot`'s server that serve a different model name."""
    if slot.kind is not BackendKind.OLLAMA:
        return []
    return [
        other
        for other in table.slots.values()
        if other.name != slot.name
        and other.kind is BackendKind.OLLAMA
        and same_server(other, slot)
        and other.backend_model != slot.backend_model
    ]


def shared_base_conflicts(table: RouteTable, slot: Slot, builds: Mapping[str, ModelBuild]) -> list[Slot]:
    """Neighbours whose model shares `slot`'s base GGUF but differs in adapters.

    `builds` maps an Ollama model name to its build; a model without a build is
    not judged (the backend could not read it).
    """
    mine = builds.get(slot.backend_model)
    if mine is None:
        return []
    conflicts = []
    for other in ollama_neighbours(table, slot):
        theirs = builds.get(other.backend_model)
        if theirs is not None and theirs.base == mine.base and theirs.adapters != mine.adapters:
            conflicts.append(other)
    return conflicts


def shared_base_warning(
    table: RouteTable,
    slot: Slot,
    builds: Mapping[str, ModelBuild],
    *,
    cold_start_s: float | None = None,
) -> str | None:
    """The warning for a blue-green plan that puts two adapters of one base on one Ollama server."""
    conflicts = shared_base_conflicts(table, slot, builds)
    if not conflicts:
        return None
    others = ", ".join(f"{o.name!r} ({o.backend_model})" for o in conflicts)
    if cold_start_s is not None:
        cold = f"expect a cold start of {cold_start_s:.1f} s on rollback"
    else:
        cold = "expect a cold start (a full model load, not measured yet) on rollback"
    return (
        f"slot {slot.name!r} ({slot.backend_model}) and {others} on Ollama at {slot.endpoint} are built "
        "from the same base GGUF with different adapters, and Ollama keeps one runner per base file: "
        f"every switch between them reloads the Ollama runner: {cold}, on the switch itself and "
        "during the smoke test, which evicts the active slot's model; a canary or shadow split between "
        "them reloads on almost every request. Use two Ollama servers or llama.cpp (per-request "
        "adapters on one warm base)"
    )


def unload_blockers(table: RouteTable, endpoint: str, model: str) -> list[str]:
    """Slots that still name `model` on `endpoint` (so it must stay loaded: they serve or roll back to it).

    Unload a vLLM adapter only when this is empty and the gateway has drained
    the requests that were already sent to it.
    """
    probe = Slot(name="", endpoint=endpoint, model=model)
    return [s.name for s in table.slots.values() if same_server(s, probe) and s.backend_model == model]
