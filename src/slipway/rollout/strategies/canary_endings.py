"""How a canary or a bake ends a phase it cannot pass (held too long, inconclusive, short of labels).

A phase whose checks pass still does not end while a category that carries
enough traffic lacks the labels to judge it (`uncovered_end`), and a clean
watch is not "stable" without them (`not_stable_yet`): a thin category is
exactly where a regression hides. Pure: state and verdict in, state and
effects out.
"""

from __future__ import annotations

from dataclasses import replace

from slipway.core.canary import CanaryVerdict, VerdictAction
from slipway.core.canary_schedule import InconclusivePolicy, format_duration, span_words
from slipway.core.deployments import DeploymentStatus
from slipway.core.notifications import Severity
from slipway.core.types import RouteChangeKind
from slipway.rollout.strategies.canary_moves import ApplyRoute, Effect, Finish, Notify, Record
from slipway.rollout.strategies.canary_state import CanaryState, CanaryStatus
from slipway.rollout.strategies.canary_words import SYSTEM, actor_of, note, pct, rollout_name, timeline_event


def hold_limit(state: CanaryState, now: float, effects: list[Effect]) -> tuple[CanaryState, list[Effect]]:
    if state.concern_since is not None and now - state.concern_since >= state.schedule.hold_limit_s:
        reason = (
            f"held for {format_duration(now - state.concern_since)} without clearing "
            f"({state.reason.removeprefix('held: ')}); when in doubt, roll back"
        )
        new, more = roll_back(state, now, SYSTEM, reason, verdict=state.last_verdict)
        return new, effects + more
    return state, effects


def uncovered_end(
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
        effects.append(Record(timeline_event(state, now, "extend", SYSTEM, reason, verdict)))
        if state.extension_s == interval:
            title = f"canary {state.version}: phase {state.phase + 1} waits at {pct(state)} for labels"
            text = (
                f"{why}. It waits up to {format_duration(state.schedule.hold_limit_s)} more, then "
                f"the phase ends inconclusive ({state.schedule.inconclusive})."
            )
            effects.append(
                Notify(note(state, now, "canary.extended", title, Severity.WARNING, text, verdict))
            )
        return state, effects
    unjudged = replace(verdict, action=VerdictAction.INCONCLUSIVE, reason=why)
    return inconclusive_end(replace(state, extension_s=spent(state)), unjudged, now, effects)


def spent(state: CanaryState) -> float:
    """An extension long enough that the inconclusive policy does not extend again."""
    return max(state.extension_s, state.schedule.steps[state.phase].duration_s or 0.0)


def inconclusive_end(
    state: CanaryState, verdict: CanaryVerdict, now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    policy = state.schedule.inconclusive
    duration = state.schedule.steps[state.phase].duration_s or 0.0
    if policy is InconclusivePolicy.EXTEND and state.extension_s + state.schedule.interval_s <= duration:
        state = replace(state, extension_s=state.extension_s + state.schedule.interval_s)
        added = format_duration(state.schedule.interval_s)
        reason = f"still inconclusive at the end of the phase; extended by {added}"
        effects.append(Record(timeline_event(state, now, "extend", SYSTEM, reason, verdict)))
        if state.extension_s == state.schedule.interval_s:
            title = f"canary {state.version}: phase {state.phase + 1} extended at {pct(state)}"
            effects.append(
                Notify(note(state, now, "canary.extended", title, Severity.INFO, verdict.reason, verdict))
            )
        return state, effects
    if policy is InconclusivePolicy.HOLD:
        state = replace(
            state, status=CanaryStatus.HOLDING, concern_since=now, reason=f"held: {verdict.reason}"
        )
        title = f"canary {state.version} held at {pct(state)}: inconclusive at the end of a phase"
        effects.append(Record(timeline_event(state, now, "hold", SYSTEM, verdict.reason, verdict)))
        effects.append(
            Notify(note(state, now, "canary.held", title, Severity.WARNING, verdict.reason, verdict))
        )
        return state, effects
    extended = " (after extending it)" if state.extension_s else ""
    reason = (
        f"inconclusive at the end of phase {state.phase + 1}{extended}: {verdict.reason}; "
        "when in doubt, roll back"
    )
    new, more = roll_back(state, now, SYSTEM, reason, verdict=verdict)
    return new, effects + more


def not_stable_yet(
    state: CanaryState, verdict: CanaryVerdict, short: list[str], now: float, effects: list[Effect]
) -> tuple[CanaryState, list[Effect]]:
    """Clean windows, but not for every category that matters: no "stable" without their labels.

    The watch goes on, checked every interval, up to the hold limit past the
    last window's end; then the schedule's inconclusive policy: `hold` keeps watching (an
    operator decides), `extend` and `rollback` switch back to the old slot.
    """
    assert state.promoted_at is not None
    why = "not enough labels to judge " + "; ".join(short)
    stable_after = state.schedule.stable_after_s
    over = now - state.promoted_at - stable_after
    if over < state.schedule.hold_limit_s or state.schedule.inconclusive is InconclusivePolicy.HOLD:
        if not state.reason.startswith("not stable yet"):
            title = f"{state.version} is not stable yet after {span_words(stable_after)}: {why}"
            effects.append(Record(timeline_event(state, now, "extend", actor_of(state), title, verdict)))
            effects.append(
                Notify(note(state, now, "monitor.not_stable", title, Severity.WARNING, "", verdict))
            )
        return replace(state, reason=f"not stable yet: {why}"), effects
    new, more = roll_back(
        state, now, actor_of(state), f"inconclusive after {span_words(stable_after)}: {why}", verdict=verdict
    )
    return new, effects + more


def roll_back(
    state: CanaryState, now: float, actor: str, reason: str, *, verdict: CanaryVerdict | None
) -> tuple[CanaryState, list[Effect]]:
    was = pct(state)
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
        ApplyRoute(RouteChangeKind.ROLLBACK, f"{rollout_name(state)}: {reason}", actor),
        Finish(DeploymentStatus.ROLLED_BACK, reason),
        Record(timeline_event(state, now, "rollback", actor, reason, verdict)),
        Notify(note(state, now, event, title, Severity.CRITICAL, text, verdict)),
    ]
