"""`slipway drill`: rehearse a rollback for real, on every replica, without touching users.

A rollback is trusted once it has been done, not once it has been written
down. A drill does one, but only for its own requests: they carry a secret
token, and the route table's drill pin sends requests with that token, and
no others, to the pinned slot. Users' routes never change.

The steps, each a route change through the same fenced, versioned path as any
other (kind `drill` in the route history):

1. pin the drill's requests to the active slot, and wait until every live
   replica serves that table (so no drill request is ever taken for a user's);
2. send a steady stream of drill requests to every replica;
3. pin them to the standby, and measure per replica the time from the commit
   until its drill requests are answered by the standby;
4. pin them back to the active slot, and measure again;
5. stop the stream, run the smoke set against the standby directly;
6. clear the pin, always (also after a failure or a cancellation), and
   record the drill.

Only the leader runs drills, one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

from slipway.core.drill import DrillAnswer, DrillBook, DrillReplicas, DrillTarget, DrillTraffic
from slipway.core.errors import ConflictError, SlipwayError
from slipway.core.lifecycle import DrillRecord
from slipway.core.notifications import Notification, Severity
from slipway.core.ports import Notifier, SlotBackend
from slipway.core.types import RouteTable
from slipway.evals.smoke import SmokeCase
from slipway.rollout.controller import RouteController
from slipway.rollout.smoke import run_smoke
from slipway.rollout.strategies.drill import (
    DrillOutcome,
    ReplicaLeg,
    choose_drill_slot,
    drill_result,
    pin_plan,
    refuse_if_running,
)

log = logging.getLogger("slipway.drill")

#: How long every replica has to take in a drill pin before the drill fails (heartbeats come every 2 s).
PROPAGATE_TIMEOUT_S = 15.0
#: How long a replica's drill requests have to reach the new side of a switch before the drill fails.
SWITCH_TIMEOUT_S = 10.0
#: ...plus this long per answer the drill waits for on the new side (a slow but working standby passes).
PER_ANSWER_S = 0.1
#: The pause between two drill requests to one replica: a steady, light stream (at most 100 a second).
REQUEST_GAP_S = 0.01


@dataclass(frozen=True, slots=True)
class DrillOrder:
    """What an operator asked for: the slot (None: where a rollback would go) and the stream's size."""

    slot: str | None
    requests: int
    smoke_cases: list[SmokeCase] | None = None


@dataclass
class _Seen:
    """One answer, as a stream saw it: when it arrived (monotonic) and what it said."""

    at: float
    answer: DrillAnswer


class _Stream:
    """A steady stream of drill requests to one replica, keeping every answer with its arrival time."""

    def __init__(self, traffic: DrillTraffic, target: DrillTarget, token: str, model: str) -> None:
        self.target = target
        self.seen: list[_Seen] = []
        self._traffic = traffic
        self._token = token
        self._model = model
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"slipway-drill-{self.target.replica}")

    async def _run(self) -> None:
        while True:
            answer = await self._traffic.ask(self.target, self._token, self._model)
            self.seen.append(_Seen(time.monotonic(), answer))
            await asyncio.sleep(REQUEST_GAP_S)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    def failure(self) -> BaseException | None:
        """The exception that ended the stream, if one did (a bug in the client must not pass silently)."""
        if self.task is None or not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()


class DrillRunner:
    """Runs one drill at a time, on the leader, and records every drill it starts."""

    def __init__(
        self,
        *,
        routes: RouteController,
        traffic: DrillTraffic,
        replicas: DrillReplicas,
        book: DrillBook,
        backend: SlotBackend,
        unloaded: Callable[[], Awaitable[Collection[str]]],
        notifier: Notifier | None = None,
        wall: Callable[[], float] = time.time,
        switch_timeout_s: float = SWITCH_TIMEOUT_S,
    ) -> None:
        self._routes = routes
        self._traffic = traffic
        self._replicas = replicas
        self._book = book
        self._backend = backend
        self._unloaded = unloaded
        self._notifier = notifier
        self._wall = wall
        self._switch_timeout_s = switch_timeout_s
        #: (who, since when) while a drill runs here.
        self.running: tuple[str, float] | None = None

    async def run(self, order: DrillOrder, *, actor: str) -> DrillRecord:
        """Run a drill to its end and return its record (passed or failed); refuse if one runs."""
        if self.running is not None:
            who, since = self.running
            raise ConflictError(
                f"a drill is already running (started by {who} {self._wall() - since:.0f} s ago)",
                hint="wait for it to finish, then see its result: slipway drill list",
            )
        self.running = (actor, self._wall())
        try:
            await self._routes.catch_up()
            table = self._routes.table
            refuse_if_running(table.drill, self._wall())  # another replica's drill
            slot = choose_drill_slot(table, order.slot, await self._unloaded())
            return await self._drill(table, slot, order, actor)
        finally:
            self.running = None

    async def _drill(self, table: RouteTable, slot: str, order: DrillOrder, actor: str) -> DrillRecord:
        token = secrets.token_urlsafe(32)
        drill_id = secrets.token_hex(6)
        started = self._wall()
        active = table.active
        outcome = DrillOutcome(slot=slot, active=active)
        versions: list[int] = []
        streams: list[_Stream] = []
        model = table.name or table.active_slot.model
        log.info("drill %s by %s: rehearsing a rollback from %s to %s", drill_id, actor, active, slot)

        async def pin(to: str | None, why: str) -> float:
            """Commit the pin; the monotonic time its commit started (switch times count from it)."""
            t0 = time.monotonic()
            committed = await self._routes.transition(
                pin_plan(
                    token,
                    to,
                    actor=actor,
                    reason=f"drill {drill_id}: {why}",
                    now=self._wall(),
                    started_at=started,
                )
            )
            versions.append(committed.version)
            return t0

        # Before anything is ours to undo: a refusal here (another drill pinned first) records nothing.
        await pin(active, f"pin the drill's requests to {active} (users' routes unchanged)")
        try:
            try:
                await self._until_all_serve(versions[-1])
                targets = await self._replicas.targets()
                streams = [_Stream(self._traffic, t, token, model) for t in targets]
                for stream in streams:
                    stream.start()
                await self._until_answered(streams, active, 1, time.monotonic(), outcome, None)
                t0 = await pin(slot, f"pin the drill's requests to {slot} (the rollback, rehearsed)")
                outcome.there = [ReplicaLeg(s.target.replica, s.target.url) for s in streams]
                await self._until_answered(streams, slot, order.requests, t0, outcome, outcome.there)
                t0 = await pin(active, f"pin the drill's requests back to {active}")
                outcome.back = [ReplicaLeg(s.target.replica, s.target.url) for s in streams]
                await self._until_answered(streams, active, order.requests, t0, outcome, outcome.back)
            finally:
                for stream in streams:
                    await stream.stop()
                outcome.requests = sum(len(s.seen) for s in streams)
                outcome.unpinned = sum(1 for s in streams for seen in s.seen if seen.answer.routed_as_users)
            if order.smoke_cases:
                standby = self._routes.table.slots.get(slot)
                if standby is None:
                    raise _DrillFailed(f"slot {slot!r} left the routes during the drill")
                report = await run_smoke(self._backend, standby, order.smoke_cases)
                outcome.smoke_passed = report.passed
                outcome.smoke = report.to_dict()
                if not report.passed:
                    outcome.reason = (
                        f"the standby {slot} failed {report.failed_count} of {report.total} smoke cases"
                    )
        except _DrillFailed as failed:
            outcome.reason = str(failed)
        except SlipwayError as exc:
            outcome.reason = f"{exc.message} ({exc.hint})" if exc.hint else exc.message
        except Exception as exc:  # a fault in slipway itself: the pin is cleared, the drill recorded
            log.exception("drill %s failed inside slipway", drill_id)
            outcome.reason = f"slipway failed during the drill ({type(exc).__name__}: {exc}); see its log"
        except asyncio.CancelledError:
            outcome.reason = "the drill was cancelled (slipway stopping)"
            await self._finish(outcome, token, drill_id, actor, started, versions)
            raise
        return await self._finish(outcome, token, drill_id, actor, started, versions)

    async def _finish(
        self,
        outcome: DrillOutcome,
        token: str,
        drill_id: str,
        actor: str,
        started: float,
        versions: list[int],
    ) -> DrillRecord:
        """Clear the pin (whatever happened), record the drill and tell people."""
        try:
            cleared = await self._routes.transition(
                pin_plan(
                    token,
                    None,
                    actor=actor,
                    reason=f"drill {drill_id}: clear the pin",
                    now=self._wall(),
                    started_at=started,
                )
            )
            versions.append(cleared.version)
        except SlipwayError as exc:
            log.error("drill %s: could not clear its pin (it routes only its own token): %s", drill_id, exc)
            extra = f"its pin could not be cleared: {exc.message}"
            outcome.reason = f"{outcome.reason}; {extra}" if outcome.reason else extra
        if outcome.unpinned and outcome.reason is None:
            outcome.reason = (
                f"{outcome.unpinned} drill request(s) were routed as users' requests by a replica "
                "that had not taken in the pin"
            )
        record = DrillRecord(
            id=drill_id,
            at=started,
            actor=actor,
            slot=outcome.slot,
            passed=outcome.passed,
            result=drill_result(outcome, route_versions=sorted(set(versions))),
        )
        await self._book.add_drill(record)
        self._tell(record)
        log.info("drill %s %s: %s", drill_id, "passed" if record.passed else "failed", record.result)
        return record

    def _tell(self, record: DrillRecord) -> None:
        if self._notifier is None:
            return
        result = record.result
        if record.passed:
            title = f"rollback drill passed: {result['active']} -> {record.slot} in {result['switch_ms']} ms"
        else:
            title = f"rollback drill with {record.slot} failed: {result['reason']}"
        try:
            self._notifier.notify(
                Notification(
                    event="drill.passed" if record.passed else "drill.failed",
                    title=title,
                    severity=Severity.INFO if record.passed else Severity.WARNING,
                    text=f"switch back {result['switch_back_ms']} ms; smoke {result['smoke_passed']}",
                    facts={"drill": record.id, "by": record.actor, "slot": record.slot},
                    at=self._wall(),
                )
            )
        except Exception:  # the drill is recorded: a bug in its wording must not report it failed
            log.exception("drill %s is recorded, but its notification failed", record.id)

    async def _until_all_serve(self, version: int) -> None:
        """Wait until every live replica serves route `version` (so each honours the drill's pin)."""
        deadline = time.monotonic() + PROPAGATE_TIMEOUT_S
        while True:
            behind = {rid: v for rid, v in (await self._replicas.route_versions()).items() if v < version}
            if not behind:
                return
            if time.monotonic() > deadline:
                late = ", ".join(f"{rid} (on v{v})" for rid, v in sorted(behind.items()))
                raise _DrillFailed(
                    f"replica(s) {late} did not take in route v{version} within {PROPAGATE_TIMEOUT_S:g} s; "
                    "see `slipway status` for their route feed"
                )
            await asyncio.sleep(0.1)

    async def _until_answered(
        self,
        streams: Sequence[_Stream],
        slot: str,
        wanted: int,
        t0: float,
        outcome: DrillOutcome,
        legs: list[ReplicaLeg] | None,
    ) -> None:
        """Wait until each replica's drill requests are answered by `slot`, `wanted` times since `t0`."""
        # The switch itself must happen within the timeout; the answers after it get time in proportion.
        deadline = t0 + self._switch_timeout_s + wanted * PER_ANSWER_S
        marks = [len(s.seen) for s in streams]
        while True:
            done = True
            for i, stream in enumerate(streams):
                problem = stream.failure()
                if problem is not None:
                    raise _DrillFailed(f"the drill's requests to {stream.target.url} stopped: {problem!r}")
                leg = legs[i] if legs is not None else ReplicaLeg(stream.target.replica, stream.target.url)
                leg.answered = leg.before = leg.failed = 0
                for seen in stream.seen[marks[i] :]:
                    if seen.at < t0:
                        continue
                    if seen.answer.ok and seen.answer.slot == slot:
                        if leg.switch_ms is None:
                            leg.switch_ms = (seen.at - t0) * 1000.0
                        leg.answered += 1
                    elif seen.answer.ok:
                        leg.before += 1
                    else:
                        leg.failed += 1
                        leg.last_error = seen.answer.error or f"HTTP {seen.answer.status}"
                if leg.answered < wanted:
                    done = False
            if done:
                return
            if time.monotonic() > deadline:
                raise _DrillFailed(self._late(streams, slot, legs))
            await asyncio.sleep(0.005)

    def _late(self, streams: Sequence[_Stream], slot: str, legs: list[ReplicaLeg] | None) -> str:
        words = []
        for i, stream in enumerate(streams):
            leg = legs[i] if legs is not None else None
            if leg is None or leg.answered == 0:
                error = f": {leg.last_error}" if leg is not None and leg.last_error else ""
                words.append(f"{stream.target.replica} got no answer from {slot}{error}")
        return (
            f"drill requests were not answered by {slot} within {self._switch_timeout_s:g} s "
            f"({'; '.join(words) or 'too few answers'}); a rollback to {slot} would fail the same way"
        )


class _DrillFailed(Exception):
    """A step of the drill did not happen as a rollback needs it to; the message says which and why."""
