"""A canary's state and its clock arithmetic: phase timers, pauses, when to check next.

Pure values and functions; `canary.step` moves a state on. Times are the
controller's clock (injectable, so tests compress hours), except the `*_wall`
fields, which are wall-clock seconds: the time base of the request records the
judge reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slipway.core.canary import CanaryVerdict
from slipway.core.canary_schedule import DEFAULT_MONITOR_WINDOWS, CanarySchedule
from slipway.core.types import WEIGHT_SCALE

#: The default post-promotion monitoring windows: (until this long after promotion, check this often).
#: Each canary and bake runs its own schedule's `windows` (`canary.windows`, `bake.windows`); these
#: are what the advice describes, the defaults.
MONITOR_WINDOWS: tuple[tuple[float, float], ...] = tuple(
    (w.until_s, w.every_s) for w in DEFAULT_MONITOR_WINDOWS
)
STABLE_AFTER_S = DEFAULT_MONITOR_WINDOWS[-1].until_s


class CanaryStatus(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    #: A check said hold: the ramp waits at this weight.
    HOLDING = "holding"
    #: A check said investigate: the ramp waits for a person.
    INVESTIGATING = "investigating"
    #: At 100 %: the candidate is the active slot; the monitoring windows run.
    PROMOTED = "promoted"
    #: Clean checks to the end of the last monitoring window after promotion.
    STABLE = "stable"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"
    #: The routes moved on without the canary (a switch, another deploy).
    SUPERSEDED = "superseded"

    def in_ramp(self) -> bool:
        return self in _RAMP

    def is_final(self) -> bool:
        return self in _FINAL


_RAMP = frozenset(
    {CanaryStatus.RUNNING, CanaryStatus.PAUSED, CanaryStatus.HOLDING, CanaryStatus.INVESTIGATING}
)
_FINAL = frozenset(
    {CanaryStatus.STABLE, CanaryStatus.ROLLED_BACK, CanaryStatus.ABORTED, CanaryStatus.SUPERSEDED}
)


@dataclass(frozen=True, slots=True)
class CanaryState:
    deployment_id: str
    version: str
    baseline: str
    candidate: str
    schedule: CanarySchedule
    status: CanaryStatus
    #: Clock times (the controller's injectable clock).
    started_at: float
    phase: int
    phase_started_at: float
    #: Wall-clock times: the request records' time base, for the judge's windows.
    started_wall: float
    paused_at: float | None = None
    #: Time spent paused in the current phase (stops the phase timer).
    paused_s: float = 0.0
    #: Time added to the current phase by the `extend` policy.
    extension_s: float = 0.0
    looks: int = 0
    #: Checks within the current phase (or since promotion).
    phase_looks: int = 0
    last_check_at: float | None = None
    last_verdict: CanaryVerdict | None = None
    #: When the current hold/investigation began (for the hold limit).
    concern_since: float | None = None
    promoted_at: float | None = None
    promoted_wall: float | None = None
    ended_at: float | None = None
    #: Why the status is what it is, in words.
    reason: str = ""
    #: The route version the canary last committed or accepted, and whether a change is yet to be made.
    route_version: int = 0
    route_pending: bool = True
    #: "canary" (a ramp, then its monitoring windows) or "bake" (the monitoring windows after a switch).
    kind: str = "canary"

    @property
    def weight_bp(self) -> int:
        """The candidate's share now, in basis points."""
        return desired_route(self)[1] if self.status.in_ramp() else (WEIGHT_SCALE if self.promoted else 0)

    @property
    def promoted(self) -> bool:
        return self.status in (CanaryStatus.PROMOTED, CanaryStatus.STABLE)

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "schedule"}
        # Stored under "plan", the schedule's name before it was renamed: rows written earlier still load.
        data["plan"] = self.schedule.to_dict()
        data["status"] = str(self.status)
        data["last_verdict"] = self.last_verdict.to_dict() if self.last_verdict else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CanaryState:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        values["schedule"] = CanarySchedule.from_dict(data["plan"])
        values["status"] = CanaryStatus(data["status"])
        verdict = data.get("last_verdict")
        values["last_verdict"] = CanaryVerdict.from_dict(verdict) if verdict else None
        return cls(**values)


# -- schedule -----------------------------------------------------------------


def desired_route(state: CanaryState) -> tuple[str, int]:
    """(active slot, candidate weight in bp) the route table should show for this state."""
    if state.status.in_ramp():
        return state.baseline, state.schedule.steps[state.phase].weight_bp
    if state.status in (CanaryStatus.PROMOTED, CanaryStatus.STABLE):
        return state.candidate, 0
    return state.baseline, 0


def phase_elapsed(state: CanaryState, now: float) -> float:
    paused = (now - state.paused_at) if state.paused_at is not None else 0.0
    return max(0.0, now - state.phase_started_at - state.paused_s - paused)


def phase_length(state: CanaryState) -> float:
    duration = state.schedule.steps[state.phase].duration_s
    return (duration or 0.0) + state.extension_s


def phase_left(state: CanaryState, now: float) -> float:
    return max(0.0, phase_length(state) - phase_elapsed(state, now))


def phase_over(state: CanaryState, now: float) -> bool:
    return state.status.in_ramp() and phase_elapsed(state, now) >= phase_length(state)


def next_check_at(state: CanaryState) -> float | None:
    """When the controller should next wake for this canary (clock time), or None when it is over."""
    if state.status.is_final():
        return None
    if state.status is CanaryStatus.PROMOTED:
        assert state.promoted_at is not None
        since = (state.last_check_at or state.promoted_at) - state.promoted_at
        start = 0.0
        for window in state.schedule.windows:
            until, every = window.until_s, window.every_s
            if since < until:
                # Counted from the window's start, so each check falls `every` after the last one.
                due = start + (math.floor((since - start) / every) + 1) * every
                return state.promoted_at + min(due, until)
            start = until
        # Past the last window and not stable: waiting for a category's labels, checked every interval.
        return state.promoted_at + since + state.schedule.interval_s
    base = state.last_check_at if state.last_check_at is not None else state.phase_started_at
    due = base + state.schedule.interval_s
    if state.paused_at is None:
        end = state.phase_started_at + state.paused_s + phase_length(state)
        if end > base:
            due = min(due, end)
    return due


def ramp_progress(state: CanaryState, now: float) -> float:
    """How far through the ramp's total time the canary is, 0..1 (1 once promoted)."""
    if state.promoted:
        return 1.0
    durations = [s.duration_s or 0.0 for s in state.schedule.steps]
    total = sum(durations)
    if total <= 0:
        return 0.0
    done = sum(durations[: state.phase]) + min(phase_elapsed(state, now), durations[state.phase])
    return min(1.0, done / total)


def view(state: CanaryState, now: float) -> dict[str, Any]:
    """What `slipway canary status` and `watch` show: where the ramp is, what is next, the last verdict."""
    due = next_check_at(state)
    ramp = state.status.in_ramp()
    # An ended canary's progress stays where it ended.
    at = state.ended_at if state.status.is_final() and state.ended_at is not None else now
    monitoring = None
    if state.status is CanaryStatus.PROMOTED and state.promoted_at is not None:
        monitoring = {
            "since_s": now - state.promoted_at,
            "left_s": max(0.0, state.promoted_at + state.schedule.stable_after_s - now),
            # What the candidate is compared with: the baseline's own traffic in this wall-clock window.
            "reference_wall": [state.started_wall, state.promoted_wall],
        }
    return {
        "deployment_id": state.deployment_id,
        "kind": state.kind,
        "version": state.version,
        "baseline": state.baseline,
        "candidate": state.candidate,
        "status": str(state.status),
        "reason": state.reason,
        "phase": min(state.phase + 1, len(state.schedule.steps) - 1),
        "phases": len(state.schedule.steps) - 1,
        "weight_pct": state.weight_bp * 100 / WEIGHT_SCALE,
        "steps": [str(s) for s in state.schedule.steps],
        "interval_s": state.schedule.interval_s,
        "guard_interval_s": state.schedule.guard_s,
        # The monitoring windows after promotion (or the switch), as configured and in words.
        "windows": [str(w) for w in state.schedule.windows],
        "windows_text": state.schedule.windows_text,
        "stable_after_s": state.schedule.stable_after_s,
        "inconclusive": str(state.schedule.inconclusive),
        "phase_length_s": phase_length(state) if ramp else None,
        "phase_elapsed_s": phase_elapsed(state, now) if ramp else None,
        "phase_left_s": phase_left(state, now) if ramp else None,
        "next_check_in_s": None if due is None else max(0.0, due - now),
        "ramp_progress": ramp_progress(state, at),
        "looks": state.looks,
        "paused": state.paused_at is not None,
        "route_pending": state.route_pending,
        "monitoring": monitoring,
        "clock_now": now,
        "started_at": state.started_at,
        "promoted_at": state.promoted_at,
        "ended_at": state.ended_at,
        "last_check_at": state.last_check_at,
        "last_verdict": state.last_verdict.to_dict() if state.last_verdict else None,
    }


def planned_looks(state: CanaryState) -> int:
    """How many checks the current phase was planned to have (its last falls on the phase end)."""
    if not state.status.in_ramp():
        return max(1, state.phase_looks + 1)
    return max(1, math.ceil(phase_length(state) / state.schedule.interval_s - 1e-9))
