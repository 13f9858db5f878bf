"""The bake: the monitoring windows after a switch made without a ramp, against the old slot's own traffic.

A bake is a canary already promoted (`start_bake`); the machine in
`canary` runs its checks. What differs is the reference.

A bake has no split: after the switch the new version serves everything
and the old one nothing. The fair comparison is the old slot while it
served all traffic, as recently as possible and at most `longest_s` back,
so both windows see the same users, categories and load as far as time
allows. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.core.canary_schedule import CanarySchedule, format_duration
from slipway.core.notifications import Severity
from slipway.core.types import RouteChange
from slipway.rollout.strategies.canary_moves import Effect, Notify, Record
from slipway.rollout.strategies.canary_state import CanaryState, CanaryStatus
from slipway.rollout.strategies.canary_words import note, timeline_event

#: The default reference: the day before the switch (the same hours of the day, most days' mix).
DEFAULT_REFERENCE_S = 86_400.0


def reference_window(
    history: Sequence[RouteChange], *, baseline: str, switch_version: int, longest_s: float
) -> tuple[float, float]:
    """(since, until) wall-clock seconds in which `baseline` served all traffic right before the switch.

    `history` is newest first and holds the switch (`switch_version`). The
    window ends at the switch and starts where the run of changes that kept
    `baseline` the only active slot began, or `longest_s` before the switch,
    whichever is later (a history cut short only makes it shorter). Without
    the switch in `history`, the window is empty.
    """
    switch = next((c for c in history if c.version == switch_version), None)
    if switch is None:
        return (0.0, 0.0)
    since = switch.at
    for change in history:
        if change.version >= switch_version:
            continue
        if change.to_active != baseline or change.to_weights:
            break
        since = change.at
    return (max(since, switch.at - longest_s), switch.at)


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
    gaps: Sequence[str] = (),
) -> tuple[CanaryState, list[Effect]]:
    """The monitoring windows after a switch that already happened: `candidate` serves everything.

    `reference` is the wall-clock window of `baseline`'s own traffic before the
    switch that each check compares the candidate's traffic since with;
    `gaps` the categories it has too few labels in to judge (a warning now).
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
        f"{baseline}'s own traffic in the {window} before the switch: {plan.windows_text}. "
        f"A rollback verdict switches back to {baseline} by itself."
    )
    title = f"bake of {version} started: {candidate} serves all traffic"
    severity = Severity.INFO
    if gaps:
        warning = reference_gap_warning(baseline, window, gaps)
        text += f"\nWarning: {warning}"
        title += f"; the reference cannot judge {', '.join(g.split(':', 1)[0] for g in gaps)}"
        severity = Severity.WARNING
    return state, [
        Record(
            timeline_event(
                state, now, "bake", actor, f"reference: {baseline}'s traffic in the {window} before"
            )
        ),
        Notify(note(state, now, "bake.started", title, severity, text)),
    ]


def reference_gap_warning(baseline: str, window: str, gaps: Sequence[str]) -> str:
    """What a reference short of labels means for the bake, and the fix."""
    return (
        f"{baseline}'s traffic in the {window} before the switch has too few labels to judge "
        f"{'; '.join(gaps)}. That window does not grow: those categories stay not covered, so this bake "
        "cannot end stable and will end inconclusive (canary.inconclusive decides). Give the reference "
        "more time (bake.reference, e.g. 72h) or send more labels before the next switch."
    )
