"""How a canary or a bake says what it did: timeline entries, notifications, and the words in them.

One place for the wording, so a canary and a bake read alike and route
history names them the same way. Pure: no I/O.
"""

from __future__ import annotations

from slipway.core.canary import CanaryEvent, CanaryVerdict
from slipway.core.canary_schedule import format_duration
from slipway.core.notifications import Notification, Severity
from slipway.core.types import WEIGHT_SCALE
from slipway.rollout.strategies.canary_state import CanaryState

SYSTEM = "slipway (canary)"
#: The actor of what a bake does by itself.
BAKE_SYSTEM = "slipway (bake)"
#: A guard check's timeline entry starts with this.
GUARD_PREFIX = "guard check: "


def pct(state: CanaryState) -> str:
    return f"{state.weight_bp * 100 / WEIGHT_SCALE:g}%"


def phase_words(state: CanaryState) -> str:
    step_ = state.schedule.steps[state.phase]
    duration = format_duration(step_.duration_s or 0.0)
    return f"{step_.percent:g}% for {duration} (phase {state.phase + 1}/{len(state.schedule.steps) - 1})"


def actor_of(state: CanaryState) -> str:
    return BAKE_SYSTEM if state.kind == "bake" else SYSTEM


def rollout_name(state: CanaryState) -> str:
    """How route history names this rollout: "canary v2.2" or "bake of v2.2"."""
    return f"bake of {state.version}" if state.kind == "bake" else f"canary {state.version}"


def timeline_event(
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


def note(
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
        "weight": pct(state),
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
