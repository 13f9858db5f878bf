"""Carries out route transitions and blue-green deploys through the ports.

Every change is: compute the next table (pure, `machine`), commit it with the
version we started from (optimistic concurrency), then publish it to the
gateway. A local lock queues operators in this process; a ConflictError means
another replica won and the operator should look again.

Traffic never moves to a slot that has not answered a readiness check first
(switch, rollback, a config file, a deploy): a config whose active slot
pointed at a closed port once took 108 requests straight into 502s. The
check is network I/O, so it runs outside the lock, and the plan is made again
under the lock with the results in hand; `force` moves traffic anyway and
says so in the route history.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.deployments import Deployment
from slipway.core.errors import ConflictError, SlipwayError, TransitionError
from slipway.core.ports import Notifier, RoutePublisher, RouteStore, SlotBackend, SlotProvisioner
from slipway.core.types import RouteChange, RouteTable, Slot
from slipway.rollout import machine
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.route_notes import route_note

log = logging.getLogger("slipway.controller")

#: The shortest wait before a replaced slot's engine is stopped (its read timeout if longer).
MIN_RETIRE_GRACE_S = 1.0
#: Plans made again because the route changed while a readiness check ran, before giving up.
MAX_REPLANS = 8

Plan = Callable[[RouteTable], tuple[RouteTable, RouteChange]]


@dataclass(frozen=True, slots=True)
class Moved:
    """A committed route change as it happened: the callers print this, not what they saw before.

    Fifty operators rolling back at once each get their own real from and to,
    never a `blue -> blue` pieced together from a table read before the lock.
    """

    table: RouteTable
    #: None: the route already was what was asked for, and nothing was committed.
    change: RouteChange | None
    #: A version staged earlier (deploy --no-switch) that this change put live for the first time.
    went_live: Deployment | None = None


def _all_traffic_on(to: str) -> Callable[[RouteTable], bool]:
    """Already done: `to` takes all traffic. A second operator asking for it is told so, not refused."""
    return lambda table: table.active == to and not table.weights and to in table.slots


def newly_serving(old: RouteTable | None, new: RouteTable) -> list[str]:
    """Slots that take traffic in `new` and did not, or did with another definition, in `old`."""
    before = old.effective_weights() if old is not None else {}
    return [
        name
        for name in new.effective_weights()
        if name not in before or old is None or old.slots.get(name) != new.slots[name]
    ]


class RouteController:
    def __init__(
        self,
        routes: RouteStore,
        publisher: RoutePublisher,
        deployments: DeploymentBook,
        backend: SlotBackend,
        *,
        wall: Callable[[], float] = time.time,
        provisioner: SlotProvisioner | None = None,
        notifier: Notifier | None = None,
        adapter_probe: Callable[[], AdapterProbeConfig] = AdapterProbeConfig,
    ) -> None:
        self._routes = routes
        #: Read at each deploy, so a reloaded config's probe settings apply to the next one.
        self._adapter_probe = adapter_probe
        #: Told of each change committed here that no rollout announces itself (see `commit`).
        self._notifier = notifier
        self._provisioner = provisioner
        self._publisher = publisher
        self._deployments = deployments
        self._backend = backend
        #: Route changes are stamped with wall-clock time, like the request records beside them.
        self._wall = wall
        self._lock = asyncio.Lock()
        self._table: RouteTable | None = None
        #: Engines of replaced slots waiting out their drain before they are stopped, and those slots.
        self._retiring: dict[asyncio.Task[None], Slot] = {}

    # -- for the steps built on this controller (rollout/staging.py, rollout/adapter_rollback.py) --

    @property
    def lock(self) -> asyncio.Lock:
        """Held for every plan-and-commit: a step holds it across its own plan and `commit`."""
        return self._lock

    def now(self) -> float:
        return self._wall()

    @property
    def deployments(self) -> DeploymentBook:
        return self._deployments

    @property
    def backend(self) -> SlotBackend:
        return self._backend

    @property
    def provisioner(self) -> SlotProvisioner | None:
        return self._provisioner

    def adapter_probe(self) -> AdapterProbeConfig:
        """The config's `adapter_probe:` section now: how a deploy's smoke test probes a shared engine."""
        return self._adapter_probe()

    async def load(self) -> RouteTable | None:
        self._table = await self._routes.load_routes()
        if self._table is not None:
            self._publisher.publish(self._table)
        return self._table

    async def catch_up(self) -> None:
        """Serve the store's latest table before acting on the routes.

        Another replica may have committed a change this one has not heard
        of yet (a notification in flight, a poll not due): an operator's
        command checked against the older table would be refused, or judged,
        for what is no longer true.
        """
        await self.refresh(await self._routes.route_version())

    async def refresh(self, version: int) -> bool:
        """Take in the store's table when `version` is newer than the one served; True if it was.

        Another replica committed it: this one must serve it too. A local
        commit that raced ahead is never replaced by an older table.
        """
        if self._table is not None and version <= self._table.version:
            return False
        table = await self._routes.load_routes()
        async with self._lock:
            if table is None or (self._table is not None and table.version <= self._table.version):
                return False
            log.info("route v%d from the store (committed elsewhere): active %s", table.version, table.active)
            self._table = table
            self._publisher.publish(table)
        return True

    @property
    def table(self) -> RouteTable:
        if self._table is None:
            raise TransitionError("no route table yet", hint="start slipway with --config FILE")
        return self._table

    async def commit(
        self,
        new: RouteTable,
        change: RouteChange,
        expected: int,
        *,
        announce: bool = True,
        adapter: bool = False,
        forced: bool = False,
    ) -> RouteTable:
        """Commit, publish, and tell people once: here, on the replica that made the change.

        Replicas that follow the change (`refresh`) say nothing, so each change
        is announced exactly once. `announce=False` is for a change whose
        rollout announces it in its own words (a canary's step, a shadow's
        mirror, the staging a deploy's switch or a canary's start announces).
        """
        try:
            committed = await self._routes.commit_routes(new, expected_version=expected, change=change)
        except ConflictError:
            await self.load()
            raise
        before, self._table = self._table, committed
        self._publisher.publish(committed)
        if announce and self._notifier is not None:
            try:
                self._notifier.notify(route_note(change, before, committed, adapter=adapter, forced=forced))
            except Exception:  # the change is committed: a bug in its wording must not report it failed
                log.exception("route v%d committed, but its notification failed", committed.version)
        log.info(
            "route v%d: %s %s -> %s by %s (%s)",
            committed.version,
            change.kind,
            change.from_active,
            change.to_active,
            change.actor,
            change.reason,
        )
        return committed

    async def transition(
        self, plan: Callable[[RouteTable], tuple[RouteTable, RouteChange] | None]
    ) -> RouteTable:
        """Commit `plan(current table)` (None: nothing to change), retrying once on a lost race.

        `plan` is pure and idempotent (it states the target, not a delta), so
        running it again on the winner's table is what the caller meant. The
        canary and shadow controllers move traffic through here and announce
        each move themselves, so nothing is announced from here.
        """
        for attempt in (1, 2):
            async with self._lock:
                old = self.table
                planned = plan(old)
                if planned is None:
                    return old
                try:
                    return await self.commit(planned[0], planned[1], old.version, announce=False)
                except ConflictError:
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def readiness(self, slot: Slot) -> str | None:
        """None when the slot is ready for traffic, else why not (endpoint and the backend's answer)."""
        try:
            health = await self._backend.check(slot)
        except Exception as exc:  # a backend adapter's bug must read as "not ready", not as a crash
            return f"slot {slot.name!r} ({slot.endpoint}) could not be checked: {type(exc).__name__}: {exc}"
        if health.ready:
            return None
        return f"slot {slot.name!r} ({slot.endpoint}) is not ready: {health.detail}"

    async def move(
        self,
        plan: Plan,
        *,
        force: bool = False,
        force_hint: str,
        unready_note: str = "forced past the readiness check",
        done: Callable[[RouteTable], bool] | None = None,
        announce: bool = True,
    ) -> Moved:
        """Commit `plan(current table)` once every slot it sends traffic to has passed a readiness check.

        Checks run outside the lock (each may wait for a connect timeout, and a
        rollback must not queue behind one); the plan is then made again under
        the lock on the table of that moment, so the change committed, and
        reported, is the one that really happened. A slot that fails its check
        refuses the change with the reason, unless `force`, which commits and
        adds `unready_note` and the reason to the change's history entry.
        """
        results: dict[Slot, str | None] = {}
        for _ in range(MAX_REPLANS):
            async with self._lock:
                old = self._table
                if old is None:
                    raise TransitionError("no route table yet", hint="start slipway with --config FILE")
                if done is not None and done(old):
                    return Moved(old, None)
                new, change = plan(old)
                pending = [new.slots[n] for n in newly_serving(old, new) if new.slots[n] not in results]
                if not pending:
                    problems = [p for n in newly_serving(old, new) if (p := results[new.slots[n]])]
                    if problems and not force:
                        raise TransitionError(
                            "traffic was not moved: " + "; ".join(problems), hint=force_hint
                        )
                    if problems:
                        log.warning("%s: %s", unready_note, "; ".join(problems))
                        change = replace(
                            change, reason=f"{change.reason}; {unready_note}: {'; '.join(problems)}"
                        )
                    committed = await self.commit(
                        new, change, old.version, announce=announce, forced=bool(problems)
                    )
                    return Moved(committed, change)
            found = await asyncio.gather(*(self.readiness(slot) for slot in pending))
            results.update(zip(pending, found, strict=True))
        raise ConflictError(
            "the routes kept changing while the target was being checked",
            hint="someone else is moving traffic right now; see `slipway history`, then try again",
        )

    async def last_change(self) -> RouteChange | None:
        history = await self._routes.route_history(1)
        return history[0] if history else None

    async def history(self, limit: int) -> list[RouteChange]:
        """The latest `limit` route changes, newest first."""
        return await self._routes.route_history(limit)

    async def unload(self, slot_name: str) -> None:
        """Release what slipway started for a slot nothing routes to (its engine, a vLLM adapter)."""
        table = self.table
        slot = table.slots.get(slot_name)
        if slot is None or self._provisioner is None:
            return
        others = {name: s for name, s in table.slots.items() if name != slot_name}
        await self._provisioner.discard(slot, replace(table, slots=others))

    def retire_later(self, replaced: Slot | None) -> None:
        """Stop what slipway started for a slot that was just replaced, once its requests are done.

        Each deploy of an adapter no engine has loaded starts an engine (a
        whole base model in memory); without this, every deploy into the
        standby slot would leave the previous candidate's engine running until
        the host runs out of memory. A replaced slot is standby, but requests
        sent before the last switch may still be streaming from it, so it is
        stopped only after its read timeout, and only if no slot routes to it
        by then (the provisioner checks against the table of that moment).
        """
        if replaced is None or self._provisioner is None:
            return
        task = asyncio.create_task(self._retire(replaced), name=f"slipway-retire-{replaced.name}")
        self._retiring[task] = replaced
        task.add_done_callback(lambda done: self._retiring.pop(done, None))

    def retiring(self) -> list[Slot]:
        """Replaced slots whose retirement is still pending here (what they serve is theirs to release)."""
        return list(self._retiring.values())

    async def _retire(self, replaced: Slot) -> None:
        assert self._provisioner is not None
        await asyncio.sleep(max(replaced.read_timeout_s, MIN_RETIRE_GRACE_S))
        try:
            await self._provisioner.discard(replaced, self.table)
        except SlipwayError as exc:
            log.error("could not stop what served the replaced slot %s: %s", replaced.name, exc)

    async def close(self) -> None:
        """Cancel pending retirements; engines stop with the process, and a restart starts only used ones."""
        for task in list(self._retiring):
            task.cancel()
        await asyncio.gather(*self._retiring, return_exceptions=True)

    async def apply_table(
        self,
        table: RouteTable,
        *,
        actor: str,
        reason: str,
        force: bool = False,
        force_hint: str = "start the backend, or apply the file anyway: slipway reload --force",
        unready_note: str = "forced past the readiness check",
    ) -> RouteTable:
        """Apply a whole table (a config file); slots it newly sends traffic to are checked first."""
        if self._table is None:
            # The first table of an empty store: nothing serves yet, so there is nothing to keep.
            async with self._lock:
                if self._table is None:
                    checks = [self.readiness(table.slots[n]) for n in newly_serving(None, table)]
                    problems = [p for p in await asyncio.gather(*checks) if p is not None]
                    new, change = machine.replace_table(
                        None, table, actor=actor, reason=reason, now=self._wall()
                    )
                    if problems:
                        log.warning("applied although not ready: %s", "; ".join(problems))
                        change = replace(
                            change, reason=f"{reason}; not ready when applied: {'; '.join(problems)}"
                        )
                    return await self.commit(new, change, 0, forced=bool(problems))

        def plan(old: RouteTable) -> tuple[RouteTable, RouteChange]:
            return machine.replace_table(old, table, actor=actor, reason=reason, now=self._wall())

        moved = await self.move(plan, force=force, force_hint=force_hint, unready_note=unready_note)
        return moved.table

    async def switch(self, to: str, *, actor: str, reason: str, force: bool = False) -> RouteTable:
        """A switch for a rollout that announces it itself (a shadow promoted through blue-green).

        An operator's switch goes through `switch_to`, which announces it.
        """
        moved = await self.switch_to(to, actor=actor, reason=reason, force=force, announce=False)
        return moved.table

    async def switch_to(
        self, to: str, *, actor: str, reason: str, force: bool = False, announce: bool = True
    ) -> Moved:
        """All traffic to `to`, once it passes a readiness check (or `force`)."""

        def plan(old: RouteTable) -> tuple[RouteTable, RouteChange]:
            return machine.switch(old, to, actor=actor, reason=reason, now=self._wall())

        moved = await self.move(
            plan,
            force=force,
            force_hint=f"fix the backend, or move traffic anyway: slipway switch {to} --force",
            done=_all_traffic_on(to),
            announce=announce,
        )
        if moved.change is not None:
            previous = moved.change.from_active
            live = await self._deployments.staged_to_live(
                to, previous=previous if previous is not None else to
            )
            return replace(moved, went_live=live)
        return moved

    async def rollback(
        self, *, to: str | None = None, actor: str, reason: str, force: bool = False
    ) -> RouteTable:
        return (await self.roll_back(to=to, actor=actor, reason=reason, force=force)).table

    async def roll_back(
        self, *, to: str | None = None, actor: str, reason: str, force: bool = False
    ) -> Moved:
        """Back to the previous slot (or `to`), once it passes a readiness check (or `force`).

        At 3 a.m. the standby may be down too; the refusal says how to force
        it, because going back to a broken slot can still be the lesser harm.
        """

        def plan(old: RouteTable) -> tuple[RouteTable, RouteChange]:
            return machine.rollback(old, to=to, actor=actor, reason=reason, now=self._wall())

        again = f"slipway rollback --to {to} --force" if to else "slipway rollback --force"
        moved = await self.move(
            plan,
            force=force,
            force_hint=(
                "fix that backend, or roll back anyway if it is still the lesser harm "
                f"(requests will fail until it answers): {again}"
            ),
            done=_all_traffic_on(to) if to is not None else None,
        )
        if moved.change is not None and moved.change.from_active is not None:
            await self._deployments.live_to_rolled_back(moved.change.from_active, reason)
        return moved
