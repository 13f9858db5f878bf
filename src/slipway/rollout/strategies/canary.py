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

After promotion the candidate is the active slot and the monitoring windows
check it every 5 min for the first hour, every 30 min to 24 h, daily to
a week; a rollback verdict in a window switches back to the old slot (still
loaded), and a clean week marks it stable.

A switch made without a ramp (a blue-green deploy) starts the same windows
directly: `start_bake` is a canary already promoted, whose reference is the
old slot's own traffic in a window before the switch rather than its share
of a split.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from slipway.core.canary import CanaryEvent, CanaryVerdict, VerdictAction
from slipway.core.canary_schedule import CanarySchedule, InconclusivePolicy, format_duration
from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import TransitionError
from slipway.core.notifications import Notification, Severity
from slipway.core.types import WEIGHT_SCALE, RouteChangeKind
from slipway.rollout.strategies.canary_state import (
    STABLE_AFTER_S,
    CanaryState,
    CanaryStatus,
    desired_route,
    phase_left,
    phase_over,
    view,
)

__all__ = [
    "CanarySchedule",
    "CanaryState",
    "CanaryStatus",
    "GuardTick",
    "start",
    "start_bake",
    "step",
    "view",
]

SYSTEM = "slipway (canary)"
#: The actor of what a bake does by itself.
BAKE_SYSTEM = "slipway (bake)"
#: A guard check's timeline entry starts with this.
GUARD_PREFIX = "guard check: "


# -- events -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tick:
    """A scheduled check and its verdict."""

    verdict: CanaryVerdict


@dataclass(frozen=True, slots=True)
class GuardTick:
    """A guard check between the scheduled ones and its verdict: only a rollback counts, and at once.

    Any other verdict changes nothing; advancing, holding and promoting stay
    with the scheduled checks. Sound because every test is anytime-valid.
    """

    verdict: CanaryVerdict


@dataclass(frozen=True, slots=True)
class Pause:
    actor: str
    reason: str = "paused by an operator"


@dataclass(frozen=True, slots=True)
class Resume:
    actor: str
    reason: str = "resumed by an operator"


@dataclass(frozen=True, slots=True)
class Promote:
    actor: str
    reason: str = "promoted by an operator"


@dataclass(frozen=True, slots=True)
class Abort:
    actor: str
    reason: str = "aborted by an operator"
    unload: bool = False


@dataclass(frozen=True, slots=True)
class Rollback:
    actor: str
    reason: str = "rolled back by an operator"


@dataclass(frozen=True, slots=True)
class RoutesChanged:
    """The route table is at `version` and the canary did not make it so."""

    version: int
    active: str
    candidate_bp: int
    description: str


Event = Tick | GuardTick | Pause | Resume | Promote | Abort | Rollback | RoutesChanged


# -- effects ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApplyRoute:
    """Make the route table match `desired_route(state)`; recorded in history as `kind`."""

    kind: RouteChangeKind
    reason: str
    actor: str = SYSTEM


@dataclass(frozen=True, slots=True)
class Notify:
    notification: Notification


@dataclass(frozen=True, slots=True)
class Record:
    event: CanaryEvent


@dataclass(frozen=True, slots=True)
class Finish:
    """Move the deployment row to `status`."""

    status: DeploymentStatus
    reason: str


@dataclass(frozen=True, slots=True)
class Unload:
    slot: str


Effect = ApplyRoute | Notify | Record | Finish | Unload


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
) -> tuple[CanaryState, list[Effect]]:
    """A new canary at the plan's first weight."""
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
    title = f"canary {version} started: {_phase_words(state)}"
    return state, [
        ApplyRoute(RouteChangeKind.CANARY, f"canary {version}: {_phase_words(state)}", actor),
        Record(_event(state, now, "start", actor, f"steps {plan.steps_text}, checks every "
                      f"{format_duration(plan.interval_s)}")),
        Notify(_note(state, now, "canary.started", title, Severity.INFO,
                     f"{candidate} (candidate) against {baseline} (production); "
                     f"steps {plan.steps_text}, checked every {format_duration(plan.interval_s)}")),
    ]  # fmt: skip


def start_bake(
    plan: CanarySchedule,
    *,
    deployment_id: str,
    version: str,
    baseline: str,
    candidate: str,
    actor: str,
    now: float,
    reference: tuple[float, float],
    route_version: int,
) -> tuple[CanaryState, list[Effect]]:
    """The monitoring windows after a switch that already happened: `candidate` serves everything.

    `reference` is the wall-clock window of `baseline`'s own traffic before the
    switch that each check compares the candidate's traffic since with.
    """
    since, switched = reference
    state = CanaryState(
        deployment_id=deployment_id,
        version=version,
        baseline=baseline,
        candidate=candidate,
        schedule=plan,
        status=CanaryStatus.PROMOTED,
        started_at=now,
        phase=len(plan.steps) - 1,
        phase_started_at=now,
        started_wall=since,
        promoted_at=now,
        promoted_wall=switched,
        last_check_at=now,
        reason=f"switched by {actor}; baking",
        route_version=route_version,
        route_pending=False,
        kind="bake",
    )
    window = format_duration(max(0.0, switched - since))
    text = (
        f"{candidate} ({version}) serves all traffic; {baseline} stays loaded. Each check compares it with "
        f"{baseline}'s own traffic in the {window} before the switch: every 5 min for the first hour, every "
        f"30 min to 24 h, daily to a week. A rollback verdict switches back to {baseline} by itself."
    )
    title = f"bake of {version} started: {candidate} serves all traffic"
    return state, [
        Record(_event(state, now, "bake", actor, f"reference: {baseline}'s traffic in the {window} before")),
        Notify(_note(state, now, "bake.started", title, Severity.INFO, text)),
    ]


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
        return _roll_back(state, now, event.actor, event.reason, verdict=None)
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
    effects: list[Effect] = [Record(_event(state, now, "check", _system(state), verdict.reason, verdict))]
    if state.status is CanaryStatus.PROMOTED:
        return _monitor(state, verdict, now, effects)
    action = verdict.action
    if action is VerdictAction.ROLLBACK:
        new, more = _roll_back(state, now, SYSTEM, f"halted: {verdict.reason}", verdict=verdict)
        return new, effects + more
    if action.is_concern():
        return _concern(state, verdict, now, effects)
    if state.status in (CanaryStatus.HOLDING, CanaryStatus.INVESTIGATING):
        if not action.advances():
            return _hold_limit(state, now, effects)
        state = replace(state, status=CanaryStatus.RUNNING, concern_since=None, reason="checks pass again")
        title = f"canary {state.version} continues at {_pct(state)}: checks pass again"
        effects.append(
            Notify(_note(state, now, "canary.cleared", title, Severity.INFO, verdict.reason, verdict))
        )
    if state.status is CanaryStatus.PAUSED or not phase_over(state, now):
        return state, effects
    short = verdict.uncovered()
    if action.advances() and short:
        return _uncovered_end(state, verdict, short, now, effects)
    if action.advances():
        new, more = _advance(state, now, wall)
        return new, effects + more
    return _inconclusive_end(state, verdict, now, effects)


def _guard(state: CanaryState, verdict: CanaryVerdict, now: float) -> tuple[CanaryState, list[Effect]]:
    """A guard check acts on a rollback verdict during the ramp and ignores everything else."""
    if verdict.action is not VerdictAction.ROLLBACK or not state.status.in_ramp():
        return state, []
    state = replace(state, looks=state.looks + 1, last_check_at=now, last_verdict=verdict)
    reason = f"{GUARD_PREFIX}{verdict.reason}"
    effects: list[Effect] = [Record(_event(state, now, "check", SYSTEM, reason, verdict))]
    new, more = _roll_back(state, now, SYSTEM, f"halted by a {reason}", verdict=verdict)
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
        title = f"canary {state.version} stopped at {_pct(state)} for investigation: {verdict.reason}"
        text = (
            f"The ramp stays at {_pct(state)} until the checks pass again; it is rolled back if this "
            f"lasts {format_duration(state.schedule.hold_limit_s)}. Investigate, then decide: "
            "`slipway canary promote` to go on, `slipway canary abort` to stop."
        )
        effects.append(Record(_event(state, now, "investigate", SYSTEM, verdict.reason, verdict)))
        effects.append(
            Notify(_note(state, now, "canary.investigating", title, Severity.WARNING, text, verdict))
        )
    return _hold_limit(state, now, effects)


def _hold_limit(state: CanaryState, now: float, effects: list[Effect]) -> tuple[CanaryState, list[Effect]]:
    if state.concern_since is not None and now - state.concern_since >= state.schedule.hold_limit_s:
        reason = (
            f"held for {format_duration(now - state.concern_since)} without clearing "
            f"({state.reason.removeprefix('held: ')}); when in doubt, roll back"
        )
        new, more = _roll_back(state, now, SYSTEM, reason, verdict=state.last_verdict)
        return new, effects + more
    return state, effects


def _uncovered_end(
    state: CanaryState, verdict: CanaryVerdict, short: list[str], now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    """A phase that passed, but not for every category that matters: it waits for their labels.

    It extends one check interval at a time up to the hold limit; then it is
    inconclusive and the schedule's policy decides (roll back by default).
    """
    why = "not enough labels to judge " + "; ".join(short)
    interval = state.schedule.interval_s
    if state.extension_s + interval <= state.schedule.hold_limit_s:
        state = replace(state, extension_s=state.extension_s + interval, reason=f"waiting for labels: {why}")
        reason = f"the checks pass, but there are {why}; extended by {format_duration(interval)}"
        effects.append(Record(_event(state, now, "extend", SYSTEM, reason, verdict)))
        if state.extension_s == interval:
            title = f"canary {state.version}: phase {state.phase + 1} waits at {_pct(state)} for labels"
            text = (
                f"{why}. It waits up to {format_duration(state.schedule.hold_limit_s)} more, then "
                f"the phase ends inconclusive ({state.schedule.inconclusive})."
            )
            effects.append(
                Notify(_note(state, now, "canary.extended", title, Severity.WARNING, text, verdict))
            )
        return state, effects
    unjudged = replace(verdict, action=VerdictAction.INCONCLUSIVE, reason=why)
    return _inconclusive_end(replace(state, extension_s=_spent(state)), unjudged, now, effects)


def _spent(state: CanaryState) -> float:
    """An extension long enough that the inconclusive policy does not extend again."""
    return max(state.extension_s, state.schedule.steps[state.phase].duration_s or 0.0)


def _inconclusive_end(
    state: CanaryState, verdict: CanaryVerdict, now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    policy = state.schedule.inconclusive
    duration = state.schedule.steps[state.phase].duration_s or 0.0
    if policy is InconclusivePolicy.EXTEND and state.extension_s + state.schedule.interval_s <= duration:
        state = replace(state, extension_s=state.extension_s + state.schedule.interval_s)
        added = format_duration(state.schedule.interval_s)
        reason = f"still inconclusive at the end of the phase; extended by {added}"
        effects.append(Record(_event(state, now, "extend", SYSTEM, reason, verdict)))
        if state.extension_s == state.schedule.interval_s:
            title = f"canary {state.version}: phase {state.phase + 1} extended at {_pct(state)}"
            effects.append(
                Notify(_note(state, now, "canary.extended", title, Severity.INFO, verdict.reason, verdict))
            )
        return state, effects
    if policy is InconclusivePolicy.HOLD:
        state = replace(
            state, status=CanaryStatus.HOLDING, concern_since=now, reason=f"held: {verdict.reason}"
        )
        title = f"canary {state.version} held at {_pct(state)}: inconclusive at the end of a phase"
        effects.append(Record(_event(state, now, "hold", SYSTEM, verdict.reason, verdict)))
        effects.append(
            Notify(_note(state, now, "canary.held", title, Severity.WARNING, verdict.reason, verdict))
        )
        return state, effects
    extended = " (after extending it)" if state.extension_s else ""
    reason = (
        f"inconclusive at the end of phase {state.phase + 1}{extended}: {verdict.reason}; "
        "when in doubt, roll back"
    )
    new, more = _roll_back(state, now, SYSTEM, reason, verdict=verdict)
    return new, effects + more


def _advance(state: CanaryState, now: float, wall: float) -> tuple[CanaryState, list[Effect]]:
    nxt = state.phase + 1
    if state.schedule.steps[nxt].weight_bp >= WEIGHT_SCALE:
        return _promote(state, now, wall, SYSTEM, f"every phase passed ({state.schedule.steps_text})")
    done = state.phase + 1
    state = replace(
        state, phase=nxt, phase_started_at=now, paused_s=0.0, extension_s=0.0, route_pending=True,
        phase_looks=0, reason=f"phase {done} passed",
    )  # fmt: skip
    title = f"canary {state.version}: phase {done} passed; now {_phase_words(state)}"
    return state, [
        ApplyRoute(RouteChangeKind.CANARY, f"canary {state.version}: {_phase_words(state)}"),
        Record(_event(state, now, "phase", SYSTEM, title)),
        Notify(_note(state, now, "canary.phase", title, Severity.INFO, "", state.last_verdict)),
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
        "Monitoring windows: every 5 min for the first hour, every 30 min to 24 h, daily to a week. "
        f"`slipway rollback` goes back to {state.baseline} at once, without re-analysis."
        if state.schedule.monitor
        else f"{state.baseline} stays loaded for `slipway rollback`."
    )
    title = f"canary {state.version} promoted: {state.candidate} takes 100% of traffic"
    return state, [
        ApplyRoute(RouteChangeKind.PROMOTE, f"canary {state.version} promoted: {reason}", actor),
        Finish(DeploymentStatus.LIVE, reason),
        Record(_event(state, now, "promote", actor, reason)),
        Notify(
            _note(
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
        new, more = _roll_back(
            state, now, _system(state), f"monitoring window: {verdict.reason}", verdict=verdict
        )
        return new, effects + more
    previous = state.reason
    if verdict.action.is_concern():
        state = replace(state, reason=f"monitoring: {verdict.reason}")
        if previous != state.reason:
            title = f"{state.version} in its monitoring window: {verdict.reason}"
            effects.append(Notify(_note(state, now, "monitor.concern", title, Severity.WARNING, "", verdict)))
    short = verdict.uncovered()
    if now - promoted_at >= STABLE_AFTER_S and short:
        return _not_stable_yet(state, verdict, short, now, effects)
    if now - promoted_at >= STABLE_AFTER_S:
        state = replace(
            state, status=CanaryStatus.STABLE, ended_at=now, reason="a clean week after promotion"
        )
        title = (
            f"{state.version} is stable after a week; {state.baseline} may be unloaded (its files are kept)"
        )
        effects.append(Record(_event(state, now, "stable", _system(state), title)))
        event = "bake.stable" if state.kind == "bake" else "monitor.stable"
        effects.append(Notify(_note(state, now, event, title, Severity.INFO, "", verdict)))
    return state, effects


def _not_stable_yet(
    state: CanaryState, verdict: CanaryVerdict, short: list[str], now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    """A clean week, but not for every category that matters: no "stable" without their labels.

    The watch goes on, checked every interval, up to the hold limit past the
    week; then the schedule's inconclusive policy: `hold` keeps watching (an
    operator decides), `extend` and `rollback` switch back to the old slot.
    """
    assert state.promoted_at is not None
    why = "not enough labels to judge " + "; ".join(short)
    over = now - state.promoted_at - STABLE_AFTER_S
    if over < state.schedule.hold_limit_s or state.schedule.inconclusive is InconclusivePolicy.HOLD:
        if not state.reason.startswith("not stable yet"):
            title = f"{state.version} is not stable yet after a week: {why}"
            effects.append(Record(_event(state, now, "extend", _system(state), title, verdict)))
            effects.append(
                Notify(_note(state, now, "monitor.not_stable", title, Severity.WARNING, "", verdict))
            )
        return replace(state, reason=f"not stable yet: {why}"), effects
    new, more = _roll_back(state, now, _system(state), f"inconclusive after a week: {why}", verdict=verdict)
    return new, effects + more


def _roll_back(
    state: CanaryState, now: float, actor: str, reason: str, *, verdict: CanaryVerdict | None
) -> tuple[CanaryState, list[Effect]]:
    was = _pct(state)
    after_promotion = state.status is CanaryStatus.PROMOTED
    state = replace(
        state,
        status=CanaryStatus.ROLLED_BACK,
        ended_at=now,
        paused_at=None,
        route_pending=True,
        reason=reason,
    )
    event = "canary.rolled_back"
    if after_promotion and state.kind == "bake":
        title = f"{state.version} rolled back to {state.baseline} by its bake: {reason}"
        event = "bake.rolled_back"
    elif after_promotion:
        title = f"{state.version} rolled back to {state.baseline} in its monitoring window: {reason}"
    else:
        title = f"canary {state.version} rolled back at {was}: {reason}"
    text = f"All traffic is on {state.baseline}. {state.candidate} stays loaded for investigation."
    blast = verdict.extra.get("blast_radius_summary") if verdict else None
    if blast:
        text += f" Blast radius: {blast}."
    return state, [
        ApplyRoute(RouteChangeKind.ROLLBACK, f"{_what(state)}: {reason}", actor),
        Finish(DeploymentStatus.ROLLED_BACK, reason),
        Record(_event(state, now, "rollback", actor, reason, verdict)),
        Notify(_note(state, now, event, title, Severity.CRITICAL, text, verdict)),
    ]


def _abort(state: CanaryState, event: Abort, now: float) -> tuple[CanaryState, list[Effect]]:
    was = _pct(state)
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
        Record(_event(state, now, "abort", event.actor, event.reason)),
    ]
    if event.unload:
        effects.append(Unload(state.candidate))
    title = f"canary {state.version} aborted at {was} by {event.actor}: {event.reason}"
    effects.append(
        Notify(_note(state, now, "canary.aborted", title, Severity.WARNING, f"{state.candidate} {kept}."))
    )
    return state, effects


def _pause(state: CanaryState, event: Pause, now: float) -> tuple[CanaryState, list[Effect]]:
    if state.status is CanaryStatus.PAUSED:
        raise TransitionError(
            f"the canary of {state.version} is already paused", hint="slipway canary resume"
        )
    state = replace(state, status=CanaryStatus.PAUSED, paused_at=now, reason=event.reason)
    title = f"canary {state.version} paused at {_pct(state)} by {event.actor}"
    text = "The phase timer is stopped; checks go on and a rollback verdict still rolls back."
    return state, [
        Record(_event(state, now, "pause", event.actor, event.reason)),
        Notify(_note(state, now, "canary.paused", title, Severity.INFO, text)),
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
    title = f"canary {state.version} resumed at {_pct(state)} by {event.actor}; {left} left in the phase"
    return state, [
        Record(_event(state, now, "resume", event.actor, event.reason)),
        Notify(_note(state, now, "canary.resumed", title, Severity.INFO, "")),
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
    effects: list[Effect] = [Record(_event(state, now, "routes", SYSTEM, reason))]
    if finish is not None:
        effects.append(Finish(finish, reason))
    title = f"canary {state.version} ended ({status}): {reason}"
    effects.append(
        Notify(
            _note(
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


# -- words --------------------------------------------------------------------


def _pct(state: CanaryState) -> str:
    return f"{state.weight_bp * 100 / WEIGHT_SCALE:g}%"


def _phase_words(state: CanaryState) -> str:
    step_ = state.schedule.steps[state.phase]
    duration = format_duration(step_.duration_s or 0.0)
    return f"{step_.percent:g}% for {duration} (phase {state.phase + 1}/{len(state.schedule.steps) - 1})"


def _system(state: CanaryState) -> str:
    return BAKE_SYSTEM if state.kind == "bake" else SYSTEM


def _what(state: CanaryState) -> str:
    """How route history names this rollout: "canary v2.2" or "bake of v2.2"."""
    return f"bake of {state.version}" if state.kind == "bake" else f"canary {state.version}"


def _event(
    state: CanaryState, now: float, kind: str, actor: str, reason: str, verdict: CanaryVerdict | None = None
) -> CanaryEvent:
    return CanaryEvent(
        deployment_id=state.deployment_id,
        at=now,
        kind=kind,
        phase=state.phase,
        weight_bp=state.weight_bp,
        actor=actor,
        reason=reason,
        verdict=verdict,
    )


def _note(
    state: CanaryState,
    now: float,
    event: str,
    title: str,
    severity: Severity,
    text: str,
    verdict: CanaryVerdict | None = None,
) -> Notification:
    facts = {
        "deployment": state.deployment_id,
        "version": state.version,
        "candidate": state.candidate,
        "baseline": state.baseline,
        "status": str(state.status),
        "phase": f"{min(state.phase + 1, len(state.schedule.steps) - 1)}/{len(state.schedule.steps) - 1}",
        "weight": _pct(state),
    }
    if verdict is not None:
        facts["verdict"] = f"{verdict.action}: {verdict.reason}"
    return Notification(
        event=event,
        title=title,
        severity=severity,
        text=text,
        metrics=verdict.metrics if verdict else (),
        facts=facts,
        at=now,
    )
