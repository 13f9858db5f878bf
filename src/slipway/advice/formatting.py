"""Durations, rates and canary steps written for people, as the advice's text shows them.

The monitoring schedule is worded from the default windows
(`canary_schedule.DEFAULT_MONITOR_WINDOWS`, what a canary and a bake run
unless `canary.windows`/`bake.windows` say otherwise) by the same words the
controller's notifications use, so the advice cannot promise checks the
controller does not make.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.core.canary_schedule import (
    DEFAULT_INTERVAL,
    DEFAULT_MONITOR_WINDOWS,
    CanaryStep,
    MonitorWindow,
    format_duration,
    windows_text,
)
from slipway.rollout.strategies.canary_timing import DAY_S


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


def monitoring_text(windows: Sequence[MonitorWindow] = DEFAULT_MONITOR_WINDOWS) -> str:
    """'checks every 5 min for the first hour, every 30 min to 24 h, daily to a week'."""
    return "checks " + windows_text(windows)
