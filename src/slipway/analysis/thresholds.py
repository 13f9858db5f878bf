"""The canary's threshold table and the decision policy around it, as configuration.

Defaults are the customary canary thresholds, in the units each metric is judged in:

| metric | unit | threshold | action | investigate band from | min samples (per arm) |
|---|---|---|---|---|---|
| error_rate | candidate ÷ baseline | 2.0 | rollback | 1.0 (any increase) | 100 requests |
| latency_p95 | candidate ÷ baseline | 1.5 | investigate | 1.2 | 100 completed |
| ttft_p95 | candidate ÷ baseline | 1.5 | investigate | 1.2 | 100 streams |
| satisfaction | relative drop | 0.10 | rollback | 0.05 | 50 rated |
| output_length_variance | candidate ÷ baseline | 2.0 | investigate | – | 100 completed |
| accuracy (per category) | drop in points | 0.05 | rollback | 0.02 | 30 labelled |
| stream_abort_rate | candidate ÷ baseline | 2.0 | rollback | 1.0 | 100 streams |
| invalid_output_rate | candidate ÷ baseline | 2.0 | rollback | 1.0 | 100 checked |

How a metric is judged (`decide.judge`): it must first be *significantly* worse
than the baseline (an anytime-valid test against "no change", at this
metric's share of `alpha`); then its estimate says how bad: beyond
`threshold` → the metric's `action` (an immediate rollback, or "investigate,
hold canary"); from `investigate_above` up to the threshold → investigate
(the "investigate, then decide" bands: accuracy −2 to −5 points, latency +20
to +50 %); below that → hold (a minor, measurable change: monitor and hold).
Too few samples → the metric is not judged; if it is `required`, the verdict
is inconclusive.

Two readings of the usual rollback rules that needed a choice:

* Accuracy "> 5 % drop" is five accuracy *points* (0.95 → 0.90), like the
  investigate band's "drops 2–5 %"; satisfaction "> 10 % drop" is *relative*
  (0.80 → 0.72), the way a satisfaction score is usually quoted.
* The canary table says p95 latency > 1.5× → "investigate, hold canary";
  the list of immediate-rollback triggers has "latency p95 +50 %". The
  canary follows the table (investigate); set `latency_p95.action =
  "rollback"` for the immediate-rollback reading.

Configured in YAML/JSON as a mapping; every field is optional:

    thresholds:
      alpha: 0.01
      accuracy: {threshold: 0.03, min_samples: 50}
      latency_p95: {action: rollback}
      inconclusive_action: extend
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from slipway.core.canary_schedule import MAX_DURATION_S
from slipway.core.numbers import Range


class MetricAction(StrEnum):
    ROLLBACK = "rollback"
    INVESTIGATE = "investigate"


class PhaseEndChoice(StrEnum):
    """What to do at the end of a phase with a verdict that is neither pass nor a breach."""

    ROLLBACK = "rollback"
    #: Keep the phase running (same weight, same checks) for `extend_by_s` more.
    EXTEND = "extend"
    #: Stay at the current weight until an operator decides.
    HOLD = "hold"
    PROMOTE = "promote"


class MetricThreshold(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: The smallest effect that triggers `action`, in the metric's unit (see the table).
    threshold: Annotated[float, Range(0, 1000, low_open=True)]
    action: MetricAction
    #: Lower edge of the "investigate" band; None: no band (significant and below threshold → hold).
    investigate_above: Annotated[float, Range(0, 1000)] | None = None
    #: Per arm; below it the metric (or the category) is not judged.
    min_samples: Annotated[int, Range(1, 100_000_000)] = 100
    #: Not enough data for a required metric makes the whole verdict inconclusive.
    required: bool = False
    enabled: bool = True
    #: This metric's share of the family-wise `alpha` (shares are renormalized over judged metrics).
    weight: Annotated[float, Range(0, 1000, low_open=True)] = 1.0

    @model_validator(mode="after")
    def _band_below_threshold(self) -> MetricThreshold:
        if self.investigate_above is not None and self.investigate_above > self.threshold:
            raise ValueError(
                f"investigate_above ({self.investigate_above}) must not exceed threshold ({self.threshold})"
            )
        return self


class Thresholds(BaseModel):
    """The whole table plus the decision policy; `Thresholds()` is the defaults in the table above."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error_rate: MetricThreshold = MetricThreshold(
        threshold=2.0,
        action=MetricAction.ROLLBACK,
        investigate_above=1.0,
        min_samples=100,
        required=True,
        weight=1.0,
    )
    latency_p95: MetricThreshold = MetricThreshold(
        threshold=1.5,
        action=MetricAction.INVESTIGATE,
        investigate_above=1.2,
        min_samples=100,
        required=True,
        weight=1.0,
    )
    ttft_p95: MetricThreshold = MetricThreshold(
        threshold=1.5, action=MetricAction.INVESTIGATE, investigate_above=1.2, min_samples=100, weight=0.5
    )
    satisfaction: MetricThreshold = MetricThreshold(
        threshold=0.10, action=MetricAction.ROLLBACK, investigate_above=0.05, min_samples=50, weight=1.0
    )
    output_length_variance: MetricThreshold = MetricThreshold(
        threshold=2.0, action=MetricAction.INVESTIGATE, min_samples=100, weight=0.5
    )
    accuracy: MetricThreshold = MetricThreshold(
        threshold=0.05, action=MetricAction.ROLLBACK, investigate_above=0.02, min_samples=30, weight=4.0
    )
    stream_abort_rate: MetricThreshold = MetricThreshold(
        threshold=2.0, action=MetricAction.ROLLBACK, investigate_above=1.0, min_samples=100, weight=0.5
    )
    invalid_output_rate: MetricThreshold = MetricThreshold(
        threshold=2.0, action=MetricAction.ROLLBACK, investigate_above=1.0, min_samples=100, weight=1.0
    )

    #: Family-wise error rate of the whole check, over every metric, category and look: the chance
    #: that an identical candidate (A/A) is ever flagged as worse than production.
    alpha: Annotated[float, Range(0, 0.5, low_open=True, high_open=True)] = 0.01
    #: The quantile for latency and TTFT: p95, the one the canary thresholds are stated in.
    latency_quantile: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.95
    #: Multiple-testing correction across categories ("holm" or "bonferroni").
    category_correction: Literal["holm", "bonferroni"] = "holm"

    #: A category is covered when both arms have the labels to see its accuracy fall by this much
    #: (points) with `coverage_power`; a phase does not end on a pass while a category carrying
    #: `coverage_min_share` of the traffic or more is not covered.
    coverage_drop: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.30
    coverage_power: Annotated[float, Range(0, 1, low_open=True, high_open=True)] = 0.8
    coverage_min_share: Annotated[float, Range(0, 1)] = 0.05

    #: "When in doubt, roll back": what an inconclusive verdict at the end of a phase does.
    inconclusive_action: PhaseEndChoice = PhaseEndChoice.ROLLBACK
    #: What a hold (a minor but significant change) at the end of a phase does.
    hold_action: PhaseEndChoice = PhaseEndChoice.PROMOTE
    #: How long an extension (`extend`) lasts; the default is two 15-minute checks.
    extend_by_s: Annotated[float, Range(0, MAX_DURATION_S, low_open=True, unit="seconds")] = 1800.0
    #: An investigation is decided within 1–4 h; with no decision by the end, it rolls back (when in doubt).
    investigate_within_s: Annotated[float, Range(0, MAX_DURATION_S, low_open=True, unit="seconds")] = (
        4 * 3600.0
    )
    #: A minor change is monitored and held for 24 h.
    hold_for_s: Annotated[float, Range(0, MAX_DURATION_S, low_open=True, unit="seconds")] = 24 * 3600.0

    def metrics(self) -> dict[str, MetricThreshold]:
        """Every metric's settings by name, in the table's order."""
        return {name: getattr(self, name) for name in METRIC_NAMES}

    def verdict_min_samples(self) -> int:
        """The per-arm sample a check needs before it can give any verdict: the required metrics' largest."""
        required = [m.min_samples for m in self.metrics().values() if m.required and m.enabled]
        return max(required, default=1)


#: The metric names, in the order of the table and of `Verdict.metrics`.
METRIC_NAMES = (
    "error_rate",
    "latency_p95",
    "ttft_p95",
    "satisfaction",
    "output_length_variance",
    "accuracy",
    "stream_abort_rate",
    "invalid_output_rate",
)

DEFAULT_THRESHOLDS = Thresholds()
