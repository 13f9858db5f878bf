"""The canary as a pure state machine: `step(state, event, now)`.

A canary ramps a candidate slot beside the active (baseline) slot through the
plan's weights. Every check interval the controller asks the judge and feeds
the verdict in as a `Tick`; operators send `Pause`, `Resume`, `Promote`,
`Abort` and `Rollback`; a route table that changed behind the canary's back
arrives as `RoutesChanged`. `step` returns the next state and the effects
for the controller to carry out (`ApplyRoute`, `Notify`, `Record`,
`Finish`, `Unload`). Nothing here does I/O or reads a clock.

Between the scheduled checks, guard checks (`GuardTick`, every
`plan.guard_s`) act only on a rollback verdict; any other verdict changes nothing.

At each check:
- rollback    → weight 0 % at once and stop; the candidate stays loaded.
- investigate → stay in the phase (never advance) and notify; an
                investigation longer than the plan's hold limit rolls back.
- pass, or hold (a minor change, monitored) at the phase end → the next
                step; the last step (100 %) promotes.
- inconclusive at the phase end → the plan's policy: extend, hold or roll back.
While paused the phase timer stops, but checks go on and a rollback verdict
still rolls back.

After promotion the candidate is the active slot and the schedule's
monitoring windows check it (by default every 5 min for the first hour, every
30 min to 24 h, daily to a week; `canary.windows`); a rollback verdict in a
window switches back to the old slot (still loaded), and clean checks to the
end of the last window mark it stable.

A switch made without a ramp (a blue-green deploy) starts the same windows
directly: `start_bake` is a canary already promoted, whose reference is the
old slot's own traffic in a window before the switch rather than its share
of a split.
"""

from __future__ import annotations

from dataclasses import replace

from slipway.core.canary import CanaryVerdict, VerdictAction
from slipway.core.canary_schedule import CanarySchedule, clean_words, format_duration, span_words
from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import TransitionError
from slipway.core.notifications import Severity
from slipway.core.types import WEIGHT_SCALE, RouteChangeKind
from slipway.rollout.strategies.bake import start_bake
from slipway.rollout.strategies.canary_endings import (
    hold_limit,
    inconclusive_end,
    not_stable_yet,
    roll_back,
    uncovered_end,
)
from slipway.rollout.strategies.canary_moves import (
    Abort,
    ApplyRoute,
    Effect,
    Event,
    Finish,
    GuardTick,
    Notify,
    Pause,
    Promote,
    Record,
    Resume,
    Rollback,
    RoutesChanged,
    Tick,
    Unload,
)
from slipway.rollout.strategies.canary_state import (
    CanaryState,
    CanaryStatus,
    desired_route,
    phase_left,
    phase_over,
    view,
)
from slipway.rollout.strategies.canary_words import (
    BAKE_SYSTEM,
    GUARD_PREFIX,
    SYSTEM,
    actor_of,
    note,
    pct,
    phase_words,
    timeline_event,
)

__all__ = [
    "BAKE_SYSTEM",
    "GUARD_PREFIX",
    "SYSTEM",
    "Abort",
    "ApplyRoute",
    "CanarySchedule",
    "CanaryState",
    "CanaryStatus",
    "Effect",
    "Event",
    "Finish",
    "GuardTick",
    "Notify",
    "Pause",
    "Promote",
    "Record",
    "Resume",
    "Rollback",
    "RoutesChanged",
    "Tick",
    "Unload",
    "start",
    "start_bake",
    "step",
    "view",
]


# -- the machine --------------------------------------------------------------


def start(
    plan: CanarySchedule,
    *,
    deployment_id: str,
    version: str,
    baseline: str,
    candidate: str,
    actor: str,
    now: float,
    wall: float,
    checklist: str | None = None,
) -> tuple[CanaryState, list[Effect]]:
    """A new canary at the plan's first weight; `checklist` is the pre-deployment checklist, in words."""
    state = CanaryState(
        deployment_id=deployment_id,
        version=version,
        baseline=baseline,
        candidate=candidate,
        schedule=plan,
        status=CanaryStatus.RUNNING,
        started_at=now,
        phase=0,
        phase_started_at=now,
        started_wall=wall,
        reason=f"started by {actor}",
    )
    title = f"canary {version} started: {phase_words(state)}"
    checked = f"; {checklist}" if checklist else ""
    return state, [
        ApplyRoute(RouteChangeKind.CANARY, f"canary {version}: {phase_words(state)}{checked}", actor),
        Record(timeline_event(state, now, "start", actor, f"steps {plan.steps_text}, checks every "
                      f"{format_duration(plan.interval_s)}")),
        Notify(note(state, now, "canary.started", title, Severity.INFO,
                     f"{candidate} (candidate) against {baseline} (production); "
                     f"steps {plan.steps_text}, checked every {format_duration(plan.interval_s)}{checked}")),
    ]  # fmt: skip


def step(
    state: CanaryState, event: Event, now: float, *, wall: float | None = None
) -> tuple[CanaryState, list[Effect]]:
    """The next state and the effects to carry out. Illegal operator moves raise TransitionError."""
    wall = now if wall is None else wall
    if state.status.is_final():
        if isinstance(event, Tick | GuardTick | RoutesChanged):
            return state, []
        raise TransitionError(
            f"the canary of {state.version} has ended ({state.status}: {state.reason})",
            hint="see `slipway canary status`; start another with `slipway deploy VERSION --strategy canary`",
        )
    if isinstance(event, Tick):
        return _tick(state, event.verdict, now, wall)
    if isinstance(event, GuardTick):
        return _guard(state, event.verdict, now)
    if isinstance(event, RoutesChanged):
        return _routes_changed(state, event, now)
    if isinstance(event, Rollback):
        return roll_back(state, now, event.actor, event.reason, verdict=None)
    if state.status is CanaryStatus.PROMOTED:
        raise TransitionError(
            f"{state.version} was promoted and serves all traffic; its monitoring window is running",
            hint=f"to go back to {state.baseline}, run `slipway rollback` (no re-analysis needed)",
        )
    if isinstance(event, Pause):
        return _pause(state, event, now)
    if isinstance(event, Resume):
        return _resume(state, event, now)
    if isinstance(event, Promote):
        return _promote(state, now, wall, event.actor, event.reason)
    return _abort(state, event, now)


def _tick(
    state: CanaryState, verdict: CanaryVerdict, now: float, wall: float
) -> tuple[CanaryState, list[Effect]]:
    state = replace(
        state,
        looks=state.looks + 1,
        phase_looks=state.phase_looks + 1,
        last_check_at=now,
        last_verdict=verdict,
    )
    effects: list[Effect] = [
        Record(timeline_event(state, now, "check", actor_of(state), verdict.reason, verdict))
    ]
    if state.status is CanaryStatus.PROMOTED:
        return _monitor(state, verdict, now, effects)
    action = verdict.action
    if action is VerdictAction.ROLLBACK:
        new, more = roll_back(state, now, SYSTEM, f"halted: {verdict.reason}", verdict=verdict)
        return new, effects + more
    if action.is_concern():
        return _concern(state, verdict, now, effects)
    if state.status in (CanaryStatus.HOLDING, CanaryStatus.INVESTIGATING):
        if not action.advances():
            return hold_limit(state, now, effects)
        state = replace(state, status=CanaryStatus.RUNNING, concern_since=None, reason="checks pass again")
        title = f"canary {state.version} continues at {pct(state)}: checks pass again"
        effects.append(
            Notify(note(state, now, "canary.cleared", title, Severity.INFO, verdict.reason, verdict))
        )
    if state.status is CanaryStatus.PAUSED or not phase_over(state, now):
        return state, effects
    short = verdict.uncovered()
    if action.advances() and short:
        return uncovered_end(state, verdict, short, now, effects)
    if action.advances():
        new, more = _advance(state, now, wall)
        return new, effects + more
    return inconclusive_end(state, verdict, now, effects)


def _guard(state: CanaryState, verdict: CanaryVerdict, now: float) -> tuple[CanaryState, list[Effect]]:
    """A guard check acts on a rollback verdict during the ramp and ignores everything else."""
    if verdict.action is not VerdictAction.ROLLBACK or not state.status.in_ramp():
        return state, []
    state = replace(state, looks=state.looks + 1, last_check_at=now, last_verdict=verdict)
    reason = f"{GUARD_PREFIX}{verdict.reason}"
    effects: list[Effect] = [Record(timeline_event(state, now, "check", SYSTEM, reason, verdict))]
    new, more = roll_back(state, now, SYSTEM, f"halted by a {reason}", verdict=verdict)
    return new, effects + more


def _concern(
    state: CanaryState, verdict: CanaryVerdict, now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    if state.status is CanaryStatus.PAUSED:
        return replace(state, concern_since=state.concern_since or now), effects
    changed = state.status is not CanaryStatus.INVESTIGATING
    state = replace(
        state,
        status=CanaryStatus.INVESTIGATING,
        concern_since=state.concern_since or now,
        reason=f"held: {verdict.reason}",
    )
    if changed:
        title = f"canary {state.version} stopped at {pct(state)} for investigation: {verdict.reason}"
        text = (
            f"The ramp stays at {pct(state)} until the checks pass again; it is rolled back if this "
            f"lasts {format_duration(state.schedule.hold_limit_s)}. Investigate, then decide: "
            "`slipway canary promote` to go on, `slipway canary abort` to stop."
        )
        effects.append(Record(timeline_event(state, now, "investigate", SYSTEM, verdict.reason, verdict)))
        effects.append(
            Notify(note(state, now, "canary.investigating", title, Severity.WARNING, text, verdict))
        )
    return hold_limit(state, now, effects)


def _advance(state: CanaryState, now: float, wall: float) -> tuple[CanaryState, list[Effect]]:
    nxt = state.phase + 1
    if state.schedule.steps[nxt].weight_bp >= WEIGHT_SCALE:
        return _promote(state, now, wall, SYSTEM, f"every phase passed ({state.schedule.steps_text})")
    done = state.phase + 1
    state = replace(
        state, phase=nxt, phase_started_at=now, paused_s=0.0, extension_s=0.0, route_pending=True,
        phase_looks=0, reason=f"phase {done} passed",
    )  # fmt: skip
    title = f"canary {state.version}: phase {done} passed; now {phase_words(state)}"
    return state, [
        ApplyRoute(RouteChangeKind.CANARY, f"canary {state.version}: {phase_words(state)}"),
        Record(timeline_event(state, now, "phase", SYSTEM, title)),
        Notify(note(state, now, "canary.phase", title, Severity.INFO, "", state.last_verdict)),
    ]


def _promote(
    state: CanaryState, now: float, wall: float, actor: str, reason: str
) -> tuple[CanaryState, list[Effect]]:
    status = CanaryStatus.PROMOTED if state.schedule.monitor else CanaryStatus.STABLE
    state = replace(
        state, status=status, phase=len(state.schedule.steps) - 1, promoted_at=now, promoted_wall=wall,
        paused_at=None, concern_since=None, last_check_at=now, route_pending=True, reason=reason,
        ended_at=None if state.schedule.monitor else now, phase_looks=0,
    )  # fmt: skip
    watch = (
        f"Monitoring windows: {state.schedule.windows_text}. "
        f"`slipway rollback` goes back to {state.baseline} at once, without re-analysis."
        if state.schedule.monitor
        else f"{state.baseline} stays loaded for `slipway rollback`."
    )
    title = f"canary {state.version} promoted: {state.candidate} takes 100% of traffic"
    return state, [
        ApplyRoute(RouteChangeKind.PROMOTE, f"canary {state.version} promoted: {reason}", actor),
        Finish(DeploymentStatus.LIVE, reason),
        Record(timeline_event(state, now, "promote", actor, reason)),
        Notify(
            note(
                state, now, "canary.promoted", title, Severity.INFO, f"{reason}. {watch}", state.last_verdict
            )
        ),
    ]


def _monitor(
    state: CanaryState, verdict: CanaryVerdict, now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    promoted_at = state.promoted_at
    assert promoted_at is not None
    if verdict.action is VerdictAction.ROLLBACK:
        new, more = roll_back(
            state, now, actor_of(state), f"monitoring window: {verdict.reason}", verdict=verdict
        )
        return new, effects + more
    previous = state.reason
    if verdict.action.is_concern():
        state = replace(state, reason=f"monitoring: {verdict.reason}")
        if previous != state.reason:
            title = f"{state.version} in its monitoring window: {verdict.reason}"
            effects.append(Notify(note(state, now, "monitor.concern", title, Severity.WARNING, "", verdict)))
    short = verdict.uncovered()
    stable_after = state.schedule.stable_after_s
    if now - promoted_at >= stable_after and short:
        return not_stable_yet(state, verdict, short, now, effects)
    if now - promoted_at >= stable_after:
        state = replace(
            state,
            status=CanaryStatus.STABLE,
            ended_at=now,
            reason=f"{clean_words(stable_after)} after promotion",
        )
        title = (
            f"{state.version} is stable after {span_words(stable_after)}; {state.baseline} may be unloaded "
            "(its files are kept)"
        )
        effects.append(Record(timeline_event(state, now, "stable", actor_of(state), title)))
        event = "bake.stable" if state.kind == "bake" else "monitor.stable"
        effects.append(Notify(note(state, now, event, title, Severity.INFO, "", verdict)))
    return state, effects


def _abort(state: CanaryState, event: Abort, now: float) -> tuple[CanaryState, list[Effect]]:
    was = pct(state)
    state = replace(
        state,
        status=CanaryStatus.ABORTED,
        ended_at=now,
        paused_at=None,
        route_pending=True,
        reason=event.reason,
    )
    kept = (
        "is released where slipway runs it (an engine, a vLLM adapter)"
        if event.unload
        else "stays loaded for investigation"
    )
    effects: list[Effect] = [
        ApplyRoute(RouteChangeKind.CANARY, f"canary {state.version} aborted: {event.reason}", event.actor),
        Finish(DeploymentStatus.ROLLED_BACK, event.reason),
        Record(timeline_event(state, now, "abort", event.actor, event.reason)),
    ]
    if event.unload:
        effects.append(Unload(state.candidate))
    title = f"canary {state.version} aborted at {was} by {event.actor}: {event.reason}"
    effects.append(
        Notify(note(state, now, "canary.aborted", title, Severity.WARNING, f"{state.candidate} {kept}."))
    )
    return state, effects


def _pause(state: CanaryState, event: Pause, now: float) -> tuple[CanaryState, list[Effect]]:
    if state.status is CanaryStatus.PAUSED:
        raise TransitionError(
            f"the canary of {state.version} is already paused", hint="slipway canary resume"
        )
    state = replace(state, status=CanaryStatus.PAUSED, paused_at=now, reason=event.reason)
    title = f"canary {state.version} paused at {pct(state)} by {event.actor}"
    text = "The phase timer is stopped; checks go on and a rollback verdict still rolls back."
    return state, [
        Record(timeline_event(state, now, "pause", event.actor, event.reason)),
        Notify(note(state, now, "canary.paused", title, Severity.INFO, text)),
    ]


def _resume(state: CanaryState, event: Resume, now: float) -> tuple[CanaryState, list[Effect]]:
    if state.status is not CanaryStatus.PAUSED or state.paused_at is None:
        raise TransitionError(
            f"the canary of {state.version} is not paused ({state.status})", hint="nothing to do"
        )
    status = CanaryStatus.RUNNING
    if state.concern_since is not None and state.last_verdict and state.last_verdict.action.is_concern():
        status = CanaryStatus.INVESTIGATING
    state = replace(
        state,
        status=status,
        paused_s=state.paused_s + (now - state.paused_at),
        paused_at=None,
        reason=event.reason,
    )
    left = format_duration(phase_left(state, now))
    title = f"canary {state.version} resumed at {pct(state)} by {event.actor}; {left} left in the phase"
    return state, [
        Record(timeline_event(state, now, "resume", event.actor, event.reason)),
        Notify(note(state, now, "canary.resumed", title, Severity.INFO, "")),
    ]


def _routes_changed(state: CanaryState, event: RoutesChanged, now: float) -> tuple[CanaryState, list[Effect]]:
    active, weight = desired_route(state)
    if state.status is CanaryStatus.PROMOTED:
        if event.active == state.candidate:
            return replace(state, route_version=event.version), []
    elif (event.active, event.candidate_bp) == (active, weight):
        return replace(state, route_version=event.version), []
    reason = f"the routes changed outside the canary ({event.description})"
    if event.active == state.baseline and (event.candidate_bp == 0 or state.status is CanaryStatus.PROMOTED):
        status, finish = CanaryStatus.ROLLED_BACK, DeploymentStatus.ROLLED_BACK
    elif event.active == state.candidate and state.status.in_ramp():
        status, finish = CanaryStatus.SUPERSEDED, DeploymentStatus.LIVE
    elif state.status is CanaryStatus.PROMOTED:
        status, finish = CanaryStatus.SUPERSEDED, None
    else:
        status, finish = CanaryStatus.ABORTED, DeploymentStatus.FAILED
    state = replace(
        state,
        status=status,
        ended_at=now,
        paused_at=None,
        route_version=event.version,
        route_pending=False,
        reason=reason,
    )
    effects: list[Effect] = [Record(timeline_event(state, now, "routes", SYSTEM, reason))]
    if finish is not None:
        effects.append(Finish(finish, reason))
    title = f"canary {state.version} ended ({status}): {reason}"
    effects.append(
        Notify(
            note(
                state,
                now,
                "canary.ended",
                title,
                Severity.WARNING,
                "The canary no longer controls the split.",
            )
        )
    )
    return state, effects
