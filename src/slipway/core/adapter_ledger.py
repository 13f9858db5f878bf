"""Which LoRA adapters slipway itself loaded into a vLLM server, and which of them may go now.

vLLM keeps an adapter loaded until someone unloads it. Adapter names are the
operator's (a slot's `upstream_model`, e.g. `classifier-v2.2`): no pattern
tells an adapter slipway loaded at a deploy from one given with vLLM's
`--lora-modules` or loaded by hand. So every adapter slipway loads at run
time is written down in the store (the ledger, one entry per server and
name, with the path it was loaded from), and only what the ledger holds is
ever unloaded by a reconcile. After a restart or a crash the ledger still
says what slipway loaded, so adapters no slot refers to any more can go.

`plan_reconcile` is the decision, pure: given the ledger, what each server
lists now, the routes, and what must stay (a deploy still checking its
candidate, a replaced slot waiting out its drain), which adapters to unload
and which ledger entries are stale.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass

from slipway.core.types import BackendKind, RouteTable

#: Store meta key: the ledger, as JSON `[LoadedAdapter, ...]`.
LEDGER_META_KEY = "vllm_loaded_adapters"

#: (endpoint, adapter name): one adapter on one server.
AdapterKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class LoadedAdapter:
    """One adapter slipway loaded: where, under which name, from which path, for which version."""

    endpoint: str
    name: str
    path: str
    version: str
    #: Wall-clock time it was loaded.
    at: float
    #: The environment variable holding the server's API key (a name, never the key).
    api_key_env: str | None = None

    @property
    def key(self) -> AdapterKey:
        return (self.endpoint, self.name)


@dataclass(frozen=True, slots=True)
class ListedAdapter:
    """What a server lists under a name now (vLLM's `GET /v1/models`)."""

    name: str
    is_adapter: bool
    root: str | None = None


def read_ledger(raw: str | None) -> dict[AdapterKey, LoadedAdapter] | None:
    """The ledger from its stored JSON; None when it is unreadable (the caller says so; nothing goes)."""
    if not raw:
        return {}
    try:
        entries = [LoadedAdapter(**fields) for fields in json.loads(raw)]
    except (ValueError, TypeError, AttributeError):
        return None
    return {e.key: e for e in entries}


def write_ledger(entries: Mapping[AdapterKey, LoadedAdapter]) -> str:
    return json.dumps([asdict(e) for e in sorted(entries.values(), key=lambda e: e.key)])


def referenced(table: RouteTable | None) -> set[AdapterKey]:
    """Every (endpoint, name) a slot of the routes sends requests under (active, standby, canary, mirror)."""
    if table is None:
        return set()
    return {(s.endpoint, s.backend_model) for s in table.slots.values() if s.kind is BackendKind.VLLM}


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    #: Loaded by slipway, still loaded from the same path, and nothing refers to it: unload.
    unload: tuple[LoadedAdapter, ...] = ()
    #: Ledger entries to forget, each with why (gone from the server, or no longer slipway's).
    forget: tuple[tuple[LoadedAdapter, str], ...] = ()
    #: Kept although unreferenced, each with why (a deploy checking it, a drain, an unreachable server).
    kept: tuple[tuple[LoadedAdapter, str], ...] = ()


def _same_path(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def plan_reconcile(
    ledger: Mapping[AdapterKey, LoadedAdapter],
    listed: Mapping[str, Collection[ListedAdapter] | None],
    table: RouteTable | None,
    keep: Mapping[AdapterKey, str],
) -> ReconcilePlan:
    """What to unload and what to forget.

    `listed` maps each server's endpoint to what it lists now, or None when
    it could not be asked (its entries wait for the next reconcile). `keep`
    maps an (endpoint, name) that must stay to why. An adapter is unloaded
    only when all hold: the ledger says slipway loaded it, the server still
    lists it as an adapter from the recorded path (a name reloaded from
    elsewhere, or a base model of that name, is someone else's), no slot of
    the routes refers to it, and nothing in `keep` names it.
    """
    used = referenced(table)
    unload: list[LoadedAdapter] = []
    forget: list[tuple[LoadedAdapter, str]] = []
    kept: list[tuple[LoadedAdapter, str]] = []
    for key in sorted(ledger):
        entry = ledger[key]
        if key in used:
            continue
        if key in keep:
            kept.append((entry, keep[key]))
            continue
        served = listed.get(entry.endpoint)
        if served is None:
            kept.append((entry, f"{entry.endpoint} could not be asked what it serves"))
            continue
        found = next((m for m in served if m.name == entry.name), None)
        if found is None:
            forget.append((entry, f"{entry.endpoint} no longer lists it"))
        elif not found.is_adapter:
            forget.append((entry, f"{entry.name!r} is a base model on {entry.endpoint}"))
        elif found.root is not None and not _same_path(found.root, entry.path):
            forget.append((entry, f"{entry.endpoint} serves it from {found.root} now, not {entry.path}"))
        else:
            unload.append(entry)
    return ReconcilePlan(tuple(unload), tuple(forget), tuple(kept))
