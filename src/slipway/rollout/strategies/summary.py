"""The summary sent when a canary or a bake ends: the mail read over coffee the next morning.

Four short parts, in the order a reader asks: what changed (which version,
from which slot to which, when, for how long), what was checked (how many
checks, the metrics and categories, the last metric table attached), what
was found (the end and why, categories that could not be judged), and what
to do next. Pure: the ended state in, one notification out.
"""

from __future__ import annotations

from slipway.core.canary_schedule import format_duration
from slipway.core.notifications import Notification, Severity
from slipway.rollout.strategies.canary_state import CanaryState, CanaryStatus

_NEXT = {
    CanaryStatus.ROLLED_BACK: (
        "{candidate} stays loaded with {version} for the investigation: `slipway postmortem {deployment}` "
        "says what failed and why evaluation missed it; `slipway regressions add --from {deployment}` "
        "puts its failing cases in the evaluation suite; fix, and deploy again."
    ),
    CanaryStatus.ABORTED: "{candidate} keeps {version} loaded; deploy again when it is ready.",
    CanaryStatus.STABLE: (
        "Nothing to do. {baseline} still holds the previous version; it may be unloaded (its files are kept)."
    ),
    CanaryStatus.SUPERSEDED: "See `slipway history` for the change that replaced it.",
}


def rollout_summary(state: CanaryState, now: float) -> Notification:
    """The summary of an ended canary or bake (`state.status` final)."""
    what = "bake" if state.kind == "bake" else "canary"
    took = format_duration(max(now - state.started_at, 1.0))
    changed = (
        f"What changed: {state.version} went live in {state.candidate}, replacing {state.baseline}, "
        f"and was watched for {took}."
        if state.kind == "bake"
        else f"What changed: {state.version} was ramped in {state.candidate} beside {state.baseline} "
        f"({state.schedule.steps_text}) for {took}."
    )
    verdict = state.last_verdict
    metrics = sorted({m.metric for m in verdict.metrics}) if verdict else []
    categories = sorted({m.category for m in verdict.metrics if m.category}) if verdict else []
    checked = f"What was checked: {state.looks} check(s)"
    if metrics:
        checked += f" of {', '.join(metrics)}"
    if categories:
        checked += f", accuracy in {', '.join(categories)}"
    checked += "; the last one's table is attached." if verdict else "."
    found = f"What was found: {state.status.replace('_', ' ')}: {state.reason}."
    short = verdict.uncovered() if verdict else []
    if short:
        found += " Not enough labels to judge " + "; ".join(short) + "."
    follow = _NEXT.get(state.status, "See `slipway canary status`.").format(
        candidate=state.candidate,
        baseline=state.baseline,
        version=state.version,
        deployment=state.deployment_id,
    )
    severity = Severity.WARNING if state.status is CanaryStatus.ROLLED_BACK else Severity.INFO
    return Notification(
        event=f"{what}.summary",
        title=f"summary: the {what} of {state.version} ended {state.status.replace('_', ' ')} after {took}",
        severity=severity,
        text="\n".join([changed, checked, found, f"What to do next: {follow}"]),
        metrics=verdict.metrics if verdict else (),
        facts={
            "deployment": state.deployment_id,
            "version": state.version,
            "status": str(state.status),
            "checks": str(state.looks),
        },
        at=now,
    )
