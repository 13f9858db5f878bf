"""Unloading a standby slot's model once nothing needs it, and loading it back when something does.

A version that ended its bake stable no longer needs the previous one warm:
its memory can go back to the host (its files and the registry stay, and
the slot stays in the routes). Unloading is refused while the slot carries
traffic, is mirrored to, or is the way back for a rollout still running, and
while another slot uses the same model on the same server. What is unloaded
is kept in the store, so every replica and `slipway status` know it, until
the slot is loaded again or staged with something else. A rollback to an
unloaded slot loads it first: at 3 a.m. nobody should have to remember.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from slipway.core.errors import NotFoundError, SlipwayError, TransitionError
from slipway.core.notifications import Notification, Severity
from slipway.core.ports import MetaStore, Notifier, SlotReleaser
from slipway.core.types import RouteTable, Slot
from slipway.rollout.controller import RouteController

log = logging.getLogger("slipway.unload")

#: Store meta key: the unloaded slots, as JSON `{slot: UnloadedSlot}`.
UNLOADED_META_KEY = "unloaded_slots"


@dataclass(frozen=True, slots=True)
class UnloadedSlot:
    slot: str
    version: str
    endpoint: str
    model: str
    at: float
    by: str
    reason: str
    #: What the server released, in words.
    released: str

    def still_holds(self, slot: Slot | None) -> bool:
        """True while the slot still names what was unloaded (restaging it makes this record stale)."""
        return slot is not None and (slot.endpoint, slot.backend_model, slot.version_label) == (
            self.endpoint,
            self.model,
            self.version,
        )


class SlotUnloader:
    def __init__(
        self,
        routes: RouteController,
        releaser: SlotReleaser,
        meta: MetaStore,
        notifier: Notifier,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._routes = routes
        self._releaser = releaser
        self._meta = meta
        self._notifier = notifier
        self._wall = wall

    async def unloaded(self) -> dict[str, UnloadedSlot]:
        """The slots unloaded now (records of slots since restaged are left out)."""
        table = self._routes.table
        return {
            name: rec for name, rec in (await self._read()).items() if rec.still_holds(table.slots.get(name))
        }

    async def unload(
        self, name: str, *, actor: str, reason: str, needed_by: str | None = None
    ) -> UnloadedSlot:
        """Release `name`'s model; `needed_by` names a running rollout that needs it (then it is refused)."""
        table = self._routes.table
        slot = _slot(table, name)
        refusal = _refusal(table, name, needed_by)
        if refusal is not None:
            raise TransitionError(refusal[0], hint=refusal[1])
        known = (await self.unloaded()).get(name)
        if known is not None:
            return known
        others = replace(table, slots={n: s for n, s in table.slots.items() if n != name})
        released = await self._releaser.release(slot, others)
        record = UnloadedSlot(
            slot=name, version=slot.version_label, endpoint=slot.endpoint, model=slot.backend_model,
            at=self._wall(), by=actor, reason=reason, released=released,
        )  # fmt: skip
        await self._write({**(await self.unloaded()), name: record})
        log.info("slot %s unloaded by %s: %s", name, actor, released)
        self._notifier.notify(
            Notification(
                event="slot.unloaded",
                title=f"{name} ({slot.version_label}) unloaded by {actor}: {released}",
                text=f"Why: {reason}\nIts files are kept and it stays in the routes; `slipway load {name}` "
                "loads it again, and a rollback to it loads it first.",
                facts={"slot": name, "version": slot.version_label, "by": actor},
                at=record.at,
            )
        )
        return record

    async def after_stable(self, version: str, standby: str, *, actor: str) -> None:
        """Unload `standby` now that `version` ended its watch stable; a refusal is told, not raised.

        The watch has ended either way, so what stops the unload (a server
        slipway cannot ask, a rollout that started meanwhile) goes to the
        sinks as a warning with its fix, and the slot simply stays loaded.
        """
        reason = f"{version} ended its watch stable; the previous version is no longer needed warm"
        try:
            await self.unload(standby, actor=actor, reason=reason)
        except SlipwayError as exc:
            log.warning("slot %s stays loaded after %s ended stable: %s", standby, version, exc)
            self._notifier.notify(
                Notification(
                    event="slot.unload_failed",
                    title=f"{standby} stays loaded after {version} ended stable: {exc.message}",
                    severity=Severity.WARNING,
                    text=exc.hint or "",
                    facts={"slot": standby, "version": version, "by": actor},
                    at=self._wall(),
                )
            )

    async def load(self, name: str, *, actor: str) -> str:
        """Load `name`'s model again (also when it was never unloaded: loading is idempotent)."""
        slot = _slot(self._routes.table, name)
        loaded = await self._releaser.load(slot)
        remaining = await self.unloaded()
        if remaining.pop(name, None) is not None:
            await self._write(remaining)
            self._notifier.notify(
                Notification(
                    event="slot.loaded",
                    title=f"{name} ({slot.version_label}) loaded again by {actor}: {loaded}",
                    facts={"slot": name, "version": slot.version_label, "by": actor},
                    at=self._wall(),
                )
            )
        return loaded

    async def load_if_unloaded(self, name: str | None, *, actor: str) -> str | None:
        """Before traffic moves to `name`: load it if it was unloaded; what was loaded, or None."""
        if name is None or name not in await self.unloaded():
            return None
        return await self.load(name, actor=actor)

    async def _read(self) -> dict[str, UnloadedSlot]:
        raw = await self._meta.get_meta(UNLOADED_META_KEY)
        if not raw:
            return {}
        try:
            return {name: UnloadedSlot(**fields) for name, fields in json.loads(raw).items()}
        except (ValueError, TypeError, AttributeError):
            log.error("the store's record of unloaded slots is unreadable; it is ignored: %.200s", raw)
            return {}

    async def _write(self, records: dict[str, UnloadedSlot]) -> None:
        await self._meta.set_meta(UNLOADED_META_KEY, json.dumps({n: asdict(r) for n, r in records.items()}))


def _slot(table: RouteTable, name: str) -> Slot:
    slot = table.slots.get(name)
    if slot is None:
        raise NotFoundError(
            f"no slot {name!r} in the routes",
            hint=f"slots: {', '.join(sorted(table.slots))}; see slipway status",
        )
    return slot


def _refusal(table: RouteTable, name: str, needed_by: str | None) -> tuple[str, str] | None:
    """Why `name` must stay loaded now (message, hint), or None."""
    weights = table.effective_weights()
    if name == table.active or weights.get(name, 0) > 0:
        share = weights.get(name, 0) / 100
        return (
            f"slot {name!r} carries traffic ({share:g}% of requests); slipway unloads only a standby slot",
            "move its traffic first (slipway switch, slipway rollback), then unload it",
        )
    if table.mirror == name and table.mirror_bp > 0:
        return (
            f"slot {name!r} receives mirrored traffic from a shadow run",
            "stop the shadow run first: slipway shadow stop",
        )
    if needed_by is not None:
        return (
            f"slot {name!r} is the way back for {needed_by}, which is still running",
            "wait until it ends (slipway canary status / slipway bake status), or end it first",
        )
    return None
