"""Runs canaries unattended: wakes on schedule, asks the judge, steps the machine, carries out effects.

The decision path: wake → reconcile with the route table → `judge.evaluate`
→ `canary.step(state, Tick(verdict))` → effects: the route change through
`RouteController.transition` (the same optimistic commits as every other
route change), the state and its timeline in the store, the deployment row,
notifications. Operator commands (pause, resume, promote, abort, rollback)
take the same path with their own event.

All state lives in the store and is reloaded at every wake, so a restart
(or a kill -9) resumes the same phase with the same timer: times are kept
in the injectable clock's time, and the next check is computed from them.
Between the scheduled checks, guard checks run every `schedule.guard_s`
(clock time) and act only on a rollback verdict, which acts at once; their
timing lives in memory, so after a restart the next guard check is simply due.
A route change is saved as pending before it is committed, so a crash
between the two is finished at the next wake rather than lost; a route
table that changed behind the canary's back ends it (`RoutesChanged`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from slipway.core.canary import JudgeRequest
from slipway.core.canary_schedule import CanarySchedule, format_duration
from slipway.core.checklist import deployment_note
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.errors import ConflictError, NotFoundError, SlipwayError, TransitionError
from slipway.core.ports import CanaryJudge, CanaryStore, Clock, Notifier
from slipway.core.types import WEIGHT_SCALE, RouteChangeKind, RouteTable
from slipway.evals.smoke import SmokeCase
from slipway.rollout.canary_effects import CanaryEffects
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.controller import DeployGate, RouteController
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.bake import reference_gap_warning, reference_window
from slipway.rollout.strategies.bluegreen import DeployRequest
from slipway.rollout.strategies.canary import (
    ApplyRoute,
    Event,
    GuardTick,
    RoutesChanged,
    Tick,
)
from slipway.rollout.strategies.canary_state import (
    CanaryState,
    CanaryStatus,
    next_check_at,
    planned_looks,
)
from slipway.rollout.strategies.canary_timing import starved_first_phase

log = logging.getLogger("slipway.canary")

#: Without a running canary the loop still looks now and then (another replica may have started one).
IDLE_POLL_S = 300.0
#: After a failed wake (store down, judge failing) try again this soon (clock seconds; at most the interval).
RETRY_S = 60.0
#: Route changes read to find where a bake's reference window starts.
BAKE_HISTORY = 1000


class CanaryController(ControlLoop):
    NAME = "slipway-canary"
    IDLE_POLL_S = IDLE_POLL_S
    RETRY_S = RETRY_S

    def __init__(
        self,
        *,
        store: CanaryStore,
        routes: RouteController,
        deployments: DeploymentBook,
        judge: CanaryJudge,
        notifier: Notifier,
        clock: Clock,
        wall: Callable[[], float] = time.time,
        before_check: Callable[[], Awaitable[None]] | None = None,
        traffic_per_day: Callable[[], Awaitable[float | None]] | None = None,
        after_stable: Callable[[CanaryState], Awaitable[None]] | None = None,
        reference_gaps: Callable[[str, float, float], Awaitable[list[str]]] | None = None,
        explain_rollback: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        #: The categories a bake's reference window has too few labels in (slot, since, until).
        self._reference_gaps = reference_gaps
        self._store = store
        #: The rate the gateway served lately (wall-clock requests/day), None when unknown.
        self._traffic_per_day = traffic_per_day
        self._routes = routes
        self._deployments = deployments
        self._judge = judge
        super().__init__(clock, log)
        self._wall = wall
        self._before_check = before_check
        self._lock = asyncio.Lock()
        #: (deployment id, clock time) of the last guard check; in memory only.
        self._last_guard: tuple[str, float] | None = None
        #: Saves each step and carries out what it asks for (routes, timeline, deployment, notifications).
        self._effects = CanaryEffects(
            store, routes, deployments, notifier, clock, wall, after_stable, explain_rollback=explain_rollback
        )
        #: Number of guard checks run (tests and status read it).
        self.guard_checks = 0

    async def _wake_once(self) -> float | None:
        return await self.wake()

    # -- the wake ------------------------------------------------------------------

    async def wake(self) -> float | None:
        """One pass: reconcile, and check if a check is due. Returns when to wake next (clock time)."""
        async with self._lock:
            loaded = await self._effects.load()
            if loaded is None:
                return None
            state, revision = await self._reconcile(*loaded)
            now = self.clock.now()
            due = next_check_at(state)
            guard = self._guard_due(state)
            if due is not None and due <= now:
                event: type[Tick] | type[GuardTick] = Tick
            elif guard is not None and guard <= now:
                event = GuardTick
            else:
                return self._next_wake(state)
        if self._before_check is not None:
            await self._before_check()
        if event is GuardTick:
            self._last_guard = (state.deployment_id, self.clock.now())
            self.guard_checks += 1
        try:
            verdict = await self._judge.evaluate(self._judge_request(state))
        except SlipwayError as exc:
            # A check that could not run is not a verdict: nothing moves, and it is tried again soon.
            log.error("canary %s: the check could not run: %s", state.deployment_id, exc)
            if event is GuardTick:
                return self._next_wake(state)
            return self.clock.now() + min(RETRY_S, state.schedule.interval_s)
        async with self._lock:
            loaded = await self._effects.load()
            if loaded is None or loaded[0].deployment_id != state.deployment_id:
                return self.clock.now()
            current, revision = loaded
            if current.looks != state.looks or current.status.is_final():
                return self._next_wake(current)  # someone acted meanwhile; look again from their state
            new, effects = canary.step(current, event(verdict), self.clock.now(), wall=self._wall())
            if effects:
                new = await self._effects.commit(new, effects, revision)
            return self._next_wake(new)

    def _guard_due(self, state: CanaryState) -> float | None:
        """When the next guard check is due (clock time), or None without guard checks.

        Guard checks run during the ramp only, one `guard_s` after the later of the
        last guard check (in memory) and the last scheduled check.
        """
        if state.schedule.guard_s <= 0 or not state.status.in_ramp():
            return None
        base = state.last_check_at if state.last_check_at is not None else state.started_at
        if self._last_guard is not None and self._last_guard[0] == state.deployment_id:
            base = max(base, self._last_guard[1])
        return base + state.schedule.guard_s

    def _next_wake(self, state: CanaryState) -> float | None:
        due = next_check_at(state)
        guard = self._guard_due(state)
        if guard is not None:
            due = guard if due is None else min(due, guard)
        if state.route_pending:
            # The route change failed (a race, a store hiccup): try it again soon, whatever the schedule.
            retry = self.clock.now() + min(RETRY_S, state.schedule.interval_s)
            return retry if due is None else min(due, retry)
        return due

    def _judge_request(self, state: CanaryState) -> JudgeRequest:
        wall = self._wall()
        if state.status is CanaryStatus.PROMOTED and state.promoted_wall is not None:
            base = (state.started_wall, state.promoted_wall)
            cand = (state.promoted_wall, wall)
        else:
            base = cand = (state.started_wall, wall)
        return JudgeRequest(
            deployment_id=state.deployment_id,
            baseline_slot=state.baseline,
            candidate_slot=state.candidate,
            baseline_since=base[0],
            baseline_until=base[1],
            candidate_since=cand[0],
            candidate_until=cand[1],
            look=state.looks + 1,
            phase=state.phase,
            weight_bp=state.weight_bp,
            monitoring=state.status is CanaryStatus.PROMOTED,
            phase_look=state.phase_looks + 1,
            planned_looks=max(planned_looks(state), state.phase_looks + 1),
        )

    # -- operators -------------------------------------------------------------------

    async def deploy(
        self,
        request: DeployRequest,
        smoke_cases: list[SmokeCase] | None,
        plan: CanarySchedule,
        *,
        actor: str,
        progress: Callable[[str], None] | None = None,
        gate: DeployGate | None = None,
    ) -> tuple[Deployment, CanaryState]:
        """Stage the candidate like blue-green (health check, smoke test), then start at the first weight."""
        await self.ensure_idle()
        dep = await self._routes.deploy_bluegreen(
            request,
            smoke_cases,
            actor=actor,
            switch=False,
            progress=progress,
            strategy=Strategy.CANARY,
            gate=gate,
        )
        starved = await self._starved_first_phase(plan)
        if starved is not None:
            earlier = dep.detail.get("warnings")
            dep.detail["warnings"] = [*(earlier if isinstance(earlier, list) else []), starved]
            log.warning("canary of %s: %s", dep.version, starved)
            if progress is not None:
                progress(f"warning: {starved}")
        async with self._lock:
            loaded = await self._effects.load()
            if loaded is not None and not loaded[0].status.is_final():
                old, revision = loaded
                if old.status.in_ramp():
                    raise TransitionError(
                        f"canary of {old.version} started meanwhile", hint="see slipway canary status"
                    )
                ended = replace(old, status=CanaryStatus.SUPERSEDED, ended_at=self.clock.now(),
                                reason=f"deploy {dep.version} ({dep.id}) started")  # fmt: skip
                await self._effects.save(ended, revision)
            table = self._routes.table
            state, effects = canary.start(
                plan,
                deployment_id=dep.id,
                version=dep.version,
                baseline=table.active,
                candidate=dep.slot,
                actor=actor,
                now=self.clock.now(),
                wall=self._wall(),
                checklist=deployment_note(dep.detail),
            )
            dep.detail["canary"] = {"plan": plan.to_dict(), "baseline": table.active}
            await self._deployments.move(dep, DeploymentStatus.CANARY)
            state = await self._effects.commit(state, effects, 0)
        self.kick()
        return dep, state

    async def start_bake(
        self,
        deployment_id: str,
        *,
        version: str,
        candidate: str,
        baseline: str,
        plan: CanarySchedule,
        reference_s: float,
        actor: str,
        progress: Callable[[str], None] | None = None,
    ) -> CanaryState:
        """Watch a version a switch made live: the monitoring windows, against `baseline`'s traffic before.

        The switch is the last route change (`candidate` active, `baseline` on
        standby and still loaded). A rollback verdict switches back by itself.
        A reference too short of labels to judge a category is said now, in
        the progress, the notification and the deployment record.
        """
        history = await self._routes.history(BAKE_HISTORY)
        table = self._routes.table
        reference = reference_window(
            history, baseline=baseline, switch_version=table.version, longest_s=reference_s
        )
        gaps = await self._gaps(baseline, reference)
        if gaps and progress is not None:
            window = format_duration(max(0.0, reference[1] - reference[0]))
            progress(f"warning: {reference_gap_warning(baseline, window, gaps)}")
        async with self._lock:
            loaded = await self._effects.load()
            if loaded is not None and loaded[0].deployment_id == deployment_id:
                return loaded[0]
            if loaded is not None and not loaded[0].status.is_final():
                await self._supersede(*loaded, reason=f"{version} ({deployment_id}) switched in")
            state, effects = canary.start_bake(
                plan,
                deployment_id=deployment_id,
                version=version,
                baseline=baseline,
                candidate=candidate,
                actor=actor,
                now=self.clock.now(),
                reference=reference,
                route_version=table.version,
                gaps=gaps,
            )
            dep = await self._deployments.get(deployment_id)
            if dep is not None:
                dep.detail["bake"] = {
                    "baseline": baseline,
                    "reference_wall": list(reference),
                    "reference_gaps": gaps,
                }
                await self._deployments.save(dep)
            await self._effects.commit_without_routes(state, effects, 0)
        self.kick()
        return state

    async def deployment(self, deployment_id: str) -> Deployment | None:
        """The deployment row as the canary or bake last saved it (its start adds to `detail`)."""
        return await self._deployments.get(deployment_id)

    async def _gaps(self, baseline: str, reference: tuple[float, float]) -> list[str]:
        """What the reference cannot judge; a failure to read it only loses the warning, not the bake."""
        if self._reference_gaps is None or reference[1] <= reference[0]:
            return []
        try:
            if self._before_check is not None:
                await self._before_check()
            return await self._reference_gaps(baseline, *reference)
        except SlipwayError as exc:
            log.warning("bake: could not read %s's reference window for its labels: %s", baseline, exc)
            return []

    async def _supersede(self, old: CanaryState, revision: int, *, reason: str) -> None:
        """End a canary or bake the routes moved on from (best effort: the new one is what is watched)."""
        ended = replace(old, status=CanaryStatus.SUPERSEDED, ended_at=self.clock.now(), reason=reason)
        try:
            await self._effects.save(ended, revision)
        except ConflictError:
            log.info(
                "canary %s changed while it was being superseded; it keeps its own last state",
                old.deployment_id,
            )

    async def _starved_first_phase(self, plan: CanarySchedule) -> str | None:
        if self._traffic_per_day is None:
            return None
        try:
            rate = await self._traffic_per_day()
        except SlipwayError as exc:  # a warning is not worth failing a deploy over
            log.warning("could not read the recent traffic rate: %s", exc)
            return None
        if not rate:
            return None
        return starved_first_phase(plan, rate, self._judge.min_samples(), clock_scale=self.clock.scale)

    async def ensure_idle(self) -> None:
        """Refuse to start a deploy while a canary ramps (it would fight over the split)."""
        loaded = await self._effects.load()
        if loaded is not None and loaded[0].status.in_ramp():
            state = loaded[0]
            raise TransitionError(
                f"a canary of {state.version} is running ({state.status}, {state.weight_bp / 100:g}%)",
                hint="finish it first: slipway canary promote, slipway canary abort, or wait; "
                "see slipway canary status",
            )

    async def command(self, event: Event) -> CanaryState:
        """An operator's move on the current canary (pause, resume, promote, abort, rollback)."""
        async with self._lock:
            loaded = await self._effects.load()
            if loaded is None:
                raise NotFoundError(
                    "there is no canary", hint="start one with slipway deploy VERSION --strategy canary"
                )
            state, revision = await self._reconcile(*loaded)
            new, effects = canary.step(state, event, self.clock.now(), wall=self._wall())
            new = await self._effects.commit(new, effects, revision)
        self.kick()
        return new

    async def keep_canary(self, table: RouteTable) -> RouteTable:
        """A routing file applied during a ramp keeps the canary's candidate slot and split.

        The file knows the candidate's slot as it was before the deploy and no
        split, so applying it as written would end the canary (or put the old
        version in its place). A file that moves production elsewhere or sets
        weights of its own still wins, and the canary ends.
        """
        state = await self.current()
        if state is None or not state.status.in_ramp():
            return table
        current = self._routes.table
        if state.candidate not in current.slots:
            return table
        if table.active != state.baseline or table.weights or state.candidate not in table.slots:
            return table
        log.info("routing file applied during the canary of %s: its slot and split are kept", state.version)
        slots = {**table.slots, state.candidate: current.slots[state.candidate]}
        return replace(table, slots=slots, weights=dict(current.weights))

    async def current(self) -> CanaryState | None:
        loaded = await self._effects.load()
        return loaded[0] if loaded else None

    async def status(self, events: int = 20) -> dict[str, Any] | None:
        state = await self.current()
        if state is None:
            return None
        timeline = await self._store.canary_events(state.deployment_id, limit=events)
        return {
            "canary": canary.view(state, self.clock.now()),
            "events": [
                {
                    "at": e.at,
                    "kind": e.kind,
                    "phase": e.phase + 1,
                    "weight_pct": e.weight_bp * 100 / WEIGHT_SCALE,
                    "actor": e.actor,
                    "reason": e.reason,
                    "verdict": e.verdict.to_dict() if e.verdict else None,
                }
                for e in timeline
            ],
        }

    # -- keeping up with the routes -------------------------------------------------

    async def _reconcile(self, state: CanaryState, revision: int) -> tuple[CanaryState, int]:
        """Finish a pending route change, or notice one made behind the canary's back."""
        if state.status.is_final() and not state.route_pending:
            return state, revision
        if state.route_pending:
            applied = await self._effects.apply_route(
                state, ApplyRoute(RouteChangeKind.CANARY, "resume the canary")
            )
            if applied is None:
                return state, revision
            return applied, await self._effects.save(applied, revision)
        table = self._routes.table
        if table.version < state.route_version:
            # The canary's own change, made through another replica, has not reached this one yet:
            # take it in now. An older table is never a change behind the canary's back.
            await self._routes.refresh(state.route_version)
            table = self._routes.table
            if table.version < state.route_version:
                return state, revision
        if table.version == state.route_version:
            return state, revision
        last = await self._routes.last_change()
        what = f"route v{last.version}: {last.kind} by {last.actor}: {last.reason}" if last else "unknown"
        event = RoutesChanged(table.version, table.active, table.weights.get(state.candidate, 0), what)
        new, effects = canary.step(state, event, self.clock.now(), wall=self._wall())
        return new, await self._effects.commit_without_routes(new, effects, revision)
