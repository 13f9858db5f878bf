"""Will a canary phase see enough requests for a verdict? Shared by `slipway plan` and the deploy.

A check compares the arms only once each has its minimum sample, and a phase
that ends without a verdict rolls back by default ("when in doubt, roll
back"). At low traffic the usual 5 % × 2 h first phase therefore rolls
a perfectly good candidate back for lack of data. `slipway plan` lengthens
the steps for a traffic rate the operator states; a canary deploy measures
the rate the gateway actually served and warns before the ramp starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from slipway.core.canary_schedule import CanarySchedule, CanaryStep, InconclusivePolicy, format_duration

DAY_S = 86_400.0
#: Canary phases are lengthened until the candidate should see this many times the per-arm minimum
#: a check needs: traffic is not flat over a day, and the quiet hours count too.
QUIET_HOURS_MARGIN = 1.5


def stretched_steps(
    steps: Sequence[CanaryStep], traffic_per_day: float | None, min_samples: int
) -> tuple[CanaryStep, ...]:
    """The steps, each phase lengthened until the candidate has seen enough requests for a verdict.

    A check reads every request since the canary started, so a phase needs
    only what the phases before it left missing.
    """
    if not traffic_per_day:
        return tuple(steps)
    need = min_samples * QUIET_HOURS_MARGIN
    seen = 0.0
    out = []
    for step in steps:
        if step.duration_s is None:
            out.append(step)
            continue
        per_hour = traffic_per_day / 24 * step.percent / 100
        hours = math.ceil(max(need - seen, 0) / per_hour)
        duration = max(step.duration_s, hours * 3600.0)
        seen += per_hour * duration / 3600
        out.append(CanaryStep(step.weight_bp, duration))
    return tuple(out)


def starved_first_phase(
    plan: CanarySchedule, traffic_per_day: float, min_samples: int, *, clock_scale: float = 1.0
) -> str | None:
    """A warning when, at this traffic, the first phase will end before the candidate has its minimum.

    `traffic_per_day` is in wall-clock time and the plan in clock time; a clock
    running `clock_scale` times faster (drills, the demo) shortens every phase
    by that much in requests too. None when the phase should see enough.
    """
    first = plan.steps[0]
    if first.duration_s is None:
        return None
    expected = traffic_per_day / DAY_S * first.percent / 100 * first.duration_s / clock_scale
    # `extend` lengthens an inconclusive phase to at most twice its length, then rolls back.
    reach = 2 * expected if plan.inconclusive is InconclusivePolicy.EXTEND else expected
    if reach >= min_samples:
        return None
    longer = stretched_steps(plan.steps, traffic_per_day / clock_scale, min_samples)
    ends = {
        InconclusivePolicy.ROLLBACK: "end inconclusive and roll the candidate back (inconclusive: rollback)",
        InconclusivePolicy.HOLD: "end inconclusive and hold at its weight (inconclusive: hold)",
        InconclusivePolicy.EXTEND: "still be inconclusive at twice its length and roll back "
        "(inconclusive: extend)",
    }[plan.inconclusive]
    rate = two_figures(traffic_per_day)
    return (
        f"at the traffic this gateway served lately (~{rate:,.0f} requests/day), the first "
        f"phase ({first.percent:g}% for {format_duration(first.duration_s)}) sends the candidate about "
        f"{expected:,.0f} requests, and a verdict needs {min_samples} per arm: it will likely "
        f"{ends}. Steps that fit this traffic: --steps {','.join(str(s) for s in longer)}"
    )


def two_figures(rate: float) -> float:
    """A measured rate to two significant figures: what an hour of traffic can tell, and no more."""
    if rate <= 0:
        return 0.0
    return round(rate, 1 - math.floor(math.log10(rate)))
