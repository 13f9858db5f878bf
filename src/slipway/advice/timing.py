"""How long the recommended road takes at the operator's traffic, and what to change when it is too long.

A strategy that is right in principle can still fail in practice: a shadow run
needs 1,000–5,000 pairs, and a canary phase that ends without enough candidate
requests for a verdict rolls back ("when in doubt, roll back"). So the advice
lengthens canary phases with the same arithmetic the deploy command uses
(`canary_timing`) and says when a shadow run would outlast its expiry.
"""

from __future__ import annotations

import math

from slipway.advice.article import QUOTES
from slipway.advice.formatting import format_span, rate, steps_spec
from slipway.advice.situation import Situation
from slipway.core.canary_schedule import CanaryStep, format_duration, parse_steps
from slipway.core.shadow import DEFAULT_EXPIRY_S, MAX_EXPIRY_S
from slipway.rollout.strategies.canary_state import STABLE_AFTER_S
from slipway.rollout.strategies.canary_timing import DAY_S, stretched_steps

#: After promotion the monitoring windows run until the version is stable.
MONITORING_S = STABLE_AFTER_S
#: A ramp longer than this is worth shortening with bigger steps (`BIGGER_STEPS`).
SLOW_RAMP_S = 7 * DAY_S
BIGGER_STEPS = "25%:2h,50%:4h,100%"
#: "Compare outputs after collecting enough data (typically 1,000-5,000 requests)".
PAIRS_MIN, PAIRS_USUAL, PAIRS_HIGH_STAKES = 1_000, 2_000, 5_000


def canary_steps(situation: Situation, spec: str | None = None) -> tuple[CanaryStep, ...]:
    """The asked steps, each phase lengthened until a check can judge it at the stated traffic."""
    return stretched_steps(
        parse_steps(spec or situation.canary_steps), situation.traffic_per_day, situation.canary_min_samples
    )


def ramp_seconds(steps: tuple[CanaryStep, ...]) -> float:
    return sum(s.duration_s or 0.0 for s in steps)


def canary_notes(situation: Situation) -> list[str]:
    traffic = situation.traffic_per_day
    if not traffic:
        return []
    asked = parse_steps(situation.canary_steps)
    stretched = canary_steps(situation)
    if asked == stretched:
        return []
    first = asked[0]
    seen = traffic * first.percent / 100 * (first.duration_s or 0) / DAY_S
    notes = [
        f"at {rate(traffic)} a {first.percent:g}% phase of {format_duration(first.duration_s or 0)} sends "
        f"the candidate about {seen:,.0f} of them, and a check needs {situation.canary_min_samples} per "
        "arm; a phase that ends without a verdict rolls back (when in doubt, roll back), so the steps "
        f"are lengthened to {steps_spec(stretched)}"
    ]
    if ramp_seconds(stretched) > SLOW_RAMP_S:
        bigger = canary_steps(situation, BIGGER_STEPS)
        notes.append(
            f"with this little traffic the ramp takes {format_span(ramp_seconds(stretched))}; bigger steps "
            f"(--steps {steps_spec(bigger)}) take {format_span(ramp_seconds(bigger))} at the cost of a "
            "larger blast radius while it is bad"
        )
    return notes


def shadow_traffic_notes(pairs: int, traffic: float) -> list[str]:
    notes = []
    took = pairs / traffic * DAY_S
    least = PAIRS_MIN / traffic * DAY_S
    if least > MAX_EXPIRY_S:
        notes.append(
            f"at {rate(traffic)} even {PAIRS_MIN:,} pairs take {format_span(least)}, beyond the 30-day "
            "limit of a shadow run: replay evaluation cases through the shadow as well, or accept a "
            "comparison on fewer pairs"
        )
    elif took > DEFAULT_EXPIRY_S:
        notes.append(
            f"{pairs:,} pairs take {format_span(took)} at {rate(traffic)}, longer than a shadow run's "
            f"default expiry ({format_span(DEFAULT_EXPIRY_S)}): add a longer time to --until, e.g. "
            f"--until {pairs}-pairs,{min(30, math.ceil(took / DAY_S))}d (at most 30d), or settle for "
            f"{PAIRS_MIN:,} pairs"
        )
    elif took < DAY_S:
        share = max(math.ceil(pairs / traffic * 10_000), 1) / 100
        quote = QUOTES["time_of_day"]
        notes.append(
            f"{pairs:,} pairs take only {format_span(took)} at this traffic: --sample {share:g}% spreads "
            f"them over a day, so quiet and busy hours are both compared (article § "
            f'{quote.section}: "{quote.text}")'
        )
    return notes
