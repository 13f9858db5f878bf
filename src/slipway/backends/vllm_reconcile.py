"""The store's ledger of adapters slipway loaded into vLLM, and the reconcile that unloads the unused ones.

A deploy loads its adapter into vLLM at run time; the replaced version is
unloaded later, once nothing routes to it. What one process remembers dies
with it: after a restart or a crash, adapters it had loaded and that no
slot refers to any more would stay registered in vLLM for good, one more per
rollout. So each load is written down in the store (`AdapterLedger`), and
`VllmReconciler.reconcile` unloads, drained, every adapter the ledger holds
that no slot refers to (see `core.adapter_ledger.plan_reconcile`). Adapters
slipway did not load (vLLM's `--lora-modules`, loaded by hand, the adapter
probe's throwaway names) are never in the ledger and never touched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from slipway.backends.vllm import VllmBackend
from slipway.core.adapter_ledger import (
    LEDGER_META_KEY,
    AdapterKey,
    ListedAdapter,
    LoadedAdapter,
    ReconcilePlan,
    plan_reconcile,
    read_ledger,
    referenced,
    write_ledger,
)
from slipway.core.errors import SlipwayError
from slipway.core.ports import MetaStore
from slipway.core.types import BackendKind, RouteTable, Slot

log = logging.getLogger("slipway.reconcile")

#: Why an adapter no slot refers to must stay for now (a deploy checking it, a drain), or None.
KeepRule = Callable[[LoadedAdapter], str | None]


class AdapterLedger:
    """The adapters slipway loaded, kept in the store's meta (one JSON value, changed under a lock here).

    Replicas changing it at the same moment may lose an entry (the last
    write wins): an entry lost means an adapter left loaded, never one
    unloaded wrongly.
    """

    def __init__(self, meta: MetaStore, wall: Callable[[], float] = time.time) -> None:
        self._meta = meta
        self._wall = wall
        self._lock = asyncio.Lock()

    async def entries(self) -> dict[AdapterKey, LoadedAdapter]:
        raw = await self._meta.get_meta(LEDGER_META_KEY)
        found = read_ledger(raw)
        if found is None:
            log.error("the store's ledger of loaded vLLM adapters is unreadable; it is ignored: %.200s", raw)
            return {}
        return found

    async def holds(self, endpoint: str, name: str) -> bool:
        return (endpoint, name) in await self.entries()

    async def add(self, slot: Slot, name: str, path: str) -> None:
        entry = LoadedAdapter(
            endpoint=slot.endpoint,
            name=name,
            path=path,
            version=slot.version_label,
            at=self._wall(),
            api_key_env=slot.api_key_env,
        )
        async with self._lock:
            entries = await self.entries()
            entries[entry.key] = entry
            await self._meta.set_meta(LEDGER_META_KEY, write_ledger(entries))

    async def forget(self, *done: LoadedAdapter) -> None:
        """Remove these entries, unless a new load recorded another under the same key meanwhile."""
        async with self._lock:
            entries = await self.entries()
            gone = [e.key for e in done if entries.get(e.key) == e]
            if not gone:
                return
            for key in gone:
                del entries[key]
            await self._meta.set_meta(LEDGER_META_KEY, write_ledger(entries))

    async def remove(self, *keys: AdapterKey) -> None:
        async with self._lock:
            entries = await self.entries()
            if not any(k in entries for k in keys):
                return
            for key in keys:
                entries.pop(key, None)
            await self._meta.set_meta(LEDGER_META_KEY, write_ledger(entries))


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    plan: ReconcilePlan
    #: Adapters unloaded now, as (endpoint, name).
    unloaded: tuple[AdapterKey, ...] = ()
    #: Unloads that failed, each with why (tried again at the next reconcile).
    failed: tuple[tuple[AdapterKey, str], ...] = ()

    def describe(self) -> str:
        parts = [f"unloaded {n!r} from {e}" for e, n in self.unloaded]
        parts += [f"could not unload {n!r} from {e}: {why}" for (e, n), why in self.failed]
        parts += [f"kept {a.name!r} on {a.endpoint}: {why}" for a, why in self.plan.kept]
        return "; ".join(parts) or "nothing to unload"


class VllmReconciler:
    def __init__(self, vllm: VllmBackend, ledger: AdapterLedger) -> None:
        self._vllm = vllm
        self._ledger = ledger

    async def reconcile(
        self,
        routes: Callable[[], Awaitable[RouteTable | None]],
        keep: Callable[[], Awaitable[KeepRule]] | None = None,
    ) -> ReconcileReport:
        """Unload (drained) the adapters slipway loaded that nothing refers to.

        Every vLLM server a slot or the ledger names is asked what it lists;
        one that cannot be asked, and an unload that fails, are logged and
        left for the next reconcile. Each unload waits until vLLM's /metrics
        shows no running or waiting request for the adapter
        (`VllmBackend.unload_adapter`). Only a store that cannot be read
        raises (the caller's loop logs it and tries again).

        The order of the reads is what makes a deploy in flight safe: the
        ledger first, then `keep` (which reads the deploys still checking
        their candidate), then `routes()` (the table committed now, by any
        replica). A deploy opens its deployment before it records and loads
        its adapter, and stages the slot before its deployment moves on, so
        an adapter in the ledger read here is either kept as checking or
        found in the table. The table is read again just before each unload.
        """
        ledger = await self._ledger.entries()
        rule = await keep() if keep is not None else None
        kept = {key: why for key, entry in ledger.items() if rule is not None and (why := rule(entry))}
        table = await routes()
        servers = _servers(table, ledger)
        listed: dict[str, list[ListedAdapter] | None] = {}
        for endpoint, slot in servers.items():
            try:
                models = await self._vllm.models(slot)
            except SlipwayError as exc:
                log.warning("reconcile: cannot list what vLLM at %s serves: %s", endpoint, exc.message)
                listed[endpoint] = None
                continue
            listed[endpoint] = [ListedAdapter(m.id, m.is_adapter, m.root) for m in models]
        plan = plan_reconcile(ledger, listed, table, kept)
        for entry, why in plan.forget:
            log.info("reconcile: forgetting adapter %s on %s (%s)", entry.name, entry.endpoint, why)
        unloaded: list[AdapterKey] = []
        failed: list[tuple[AdapterKey, str]] = []
        for entry in plan.unload:
            if entry.key in referenced(await routes()):
                log.info("reconcile: adapter %s on %s is routed to again; kept", entry.name, entry.endpoint)
                continue
            slot = _reach(servers[entry.endpoint], entry.name)
            try:
                await self._vllm.unload_adapter(slot, entry.name)
            except SlipwayError as exc:
                log.error(
                    "reconcile: could not unload adapter %s (%s) from %s: %s",
                    entry.name,
                    entry.version,
                    entry.endpoint,
                    exc.message,
                )
                failed.append((entry.key, exc.message))
                continue
            log.info(
                "reconcile: unloaded adapter %s (%s, loaded from %s) from %s: no slot refers to it",
                entry.name,
                entry.version,
                entry.path,
                entry.endpoint,
            )
            unloaded.append(entry.key)
        done = [e for e in plan.unload if e.key in unloaded] + [e for e, _ in plan.forget]
        await self._ledger.forget(*done)
        return ReconcileReport(plan, tuple(unloaded), tuple(failed))


def _servers(table: RouteTable | None, ledger: Mapping[AdapterKey, LoadedAdapter]) -> dict[str, Slot]:
    """One slot to reach each vLLM server by: a route's slot (its key and timeouts), else the ledger's."""
    servers: dict[str, Slot] = {}
    if table is not None:
        for slot in table.slots.values():
            if slot.kind is BackendKind.VLLM:
                servers.setdefault(slot.endpoint, slot)
    for entry in ledger.values():
        servers.setdefault(
            entry.endpoint,
            Slot(
                name="reconcile",
                endpoint=entry.endpoint,
                model=entry.name,
                kind=BackendKind.VLLM,
                api_key_env=entry.api_key_env,
            ),
        )
    return servers


def _reach(slot: Slot, name: str) -> Slot:
    return slot.with_changes(name="reconcile", model=name, upstream_model=None, adapter=name)
