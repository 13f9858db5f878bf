"""Durations, rates and canary steps written for people, as the advice's text shows them.

The monitoring schedule is worded from `canary_state.MONITOR_WINDOWS`, the
schedule the canary controller runs, so the advice cannot promise checks the
controller does not make.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.core.canary_schedule import DEFAULT_INTERVAL, CanaryStep, format_duration
from slipway.rollout.strategies.canary_state import MONITOR_WINDOWS
from slipway.rollout.strategies.canary_timing import DAY_S

_SPOKEN = {3600.0: "an hour", DAY_S: "24 h", 7 * DAY_S: "a week"}


def format_span(seconds: float | None) -> str:
    """A duration for people: '45 min', '9.6 h', '12.0 days' ('unknown' for None)."""
    if seconds is None:
        return "unknown"
    if seconds < 3600:
        return f"{max(seconds / 60, 1):.0f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY_S:.1f} days"


def rate(per_day: float) -> str:
    return f"{per_day:,.0f} requests/day"


def steps_spec(steps: Sequence[CanaryStep]) -> str:
    """The steps as `--steps` takes them, so a suggested command can be pasted."""
    return ",".join(str(s) for s in steps)


def steps_text(steps: Sequence[CanaryStep], traffic_per_day: float | None) -> str:
    parts = []
    for step in steps:
        if step.duration_s is None:
            parts.append(f"then {step.percent:g} %")
            continue
        text = f"{step.percent:g} % for {format_duration(step.duration_s)}"
        if traffic_per_day:
            seen = traffic_per_day * step.percent / 100 * step.duration_s / DAY_S
            text += f" (~{seen:,.0f} candidate requests)"
        parts.append(text)
    return ", ".join(parts) + f"; checks every {DEFAULT_INTERVAL}"


def monitoring_text() -> str:
    """'checks every 5 min for the first hour, every 30 min to 24 h, daily to a week'."""
    parts = []
    for index, (until, every) in enumerate(MONITOR_WINDOWS):
        often = "daily" if every == DAY_S else f"every {format_span(every)}"
        spoken = _SPOKEN.get(until, format_span(until))
        if index == 0:
            parts.append(f"{often} for the first {spoken.removeprefix('an ').removeprefix('a ')}")
        else:
            parts.append(f"{often} to {spoken}")
    return "checks " + ", ".join(parts)
