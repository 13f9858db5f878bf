"""The verdict of a canary check, and its parts: actions (rollback to pass), per-metric outcomes, the look.

`decide.judge` produces a `Verdict`; `decide` re-exports every name here, so
callers import from `slipway.analysis.decide` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from slipway.analysis.stats import Comparison
from slipway.core.canary import VerdictAction

#: The pooled accuracy over every labelled category, judged with the categories.
ALL_CATEGORIES = "(all)"


#: One vocabulary for verdicts: the controller's port and the judge share the same enum.
Action = VerdictAction


class Outcome(StrEnum):
    #: Not significantly worse than the baseline.
    OK = "ok"
    #: Significantly worse, by less than the investigate band.
    MINOR = "minor"
    #: Significantly worse, inside the investigate band (below the threshold).
    DRIFT = "drift"
    #: Significantly worse, estimate beyond the threshold.
    BREACH = "breach"
    #: Fewer than `min_samples` in an arm.
    INSUFFICIENT = "insufficient"
    #: No data in either arm (no streams, no feedback...) or the metric is disabled.
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class Look:
    """Which check this is within the current phase: 1-based `index` of `planned_looks`."""

    index: int = 1
    planned_looks: int = 1

    def __post_init__(self) -> None:
        if self.planned_looks < 1 or self.index < 1:
            raise ValueError(f"a look is 1-based, got {self.index} of {self.planned_looks}")

    @property
    def is_final(self) -> bool:
        """The phase's last planned check (or later, when a phase was extended)."""
        return self.index >= self.planned_looks


@dataclass(frozen=True, slots=True)
class MetricResult:
    metric: str
    #: For accuracy: the category (`ALL_CATEGORIES` for the pooled one); None for other metrics.
    category: str | None
    outcome: Outcome
    #: What this metric alone asks for.
    action: Action
    #: The statistics; None when the metric was not judged (insufficient or unavailable).
    comparison: Comparison | None
    n_baseline: int
    n_candidate: int
    threshold: float
    investigate_above: float | None
    min_samples: int
    #: The level this metric was judged at: its share of `alpha` (Holm-adjusted p compared with it).
    alpha: float
    #: The p-value the decision used (Holm-adjusted for categories).
    p_decision: float
    reason: str

    @property
    def name(self) -> str:
        return self.metric if self.category is None else f"{self.metric}[{self.category}]"

    @property
    def estimate(self) -> float | None:
        return None if self.comparison is None else self.comparison.estimate

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.comparison is None else self.comparison.interval

    @property
    def p_value(self) -> float | None:
        return None if self.comparison is None else self.comparison.p_value

    @property
    def test(self) -> str | None:
        return None if self.comparison is None else self.comparison.test


@dataclass(frozen=True, slots=True)
class Verdict:
    action: Action
    #: One line for an operator: what was decided and the numbers that decided it.
    reason: str
    metrics: tuple[MetricResult, ...]
    look: Look
    #: For investigate and hold: how long the decision may take (investigate 4 h, hold 24 h).
    decide_within_s: float | None = None

    @property
    def framework(self) -> str:
        return self.action.framework

    @property
    def failing(self) -> tuple[MetricResult, ...]:
        """Metrics asking for rollback or investigation, worst first."""
        bad = [m for m in self.metrics if m.action in (Action.ROLLBACK, Action.INVESTIGATE)]
        return tuple(sorted(bad, key=lambda m: -m.action.severity))

    def metric(self, name: str, category: str | None = None) -> MetricResult:
        for m in self.metrics:
            if m.metric == name and m.category == category:
                return m
        raise KeyError(name if category is None else f"{name}[{category}]")
