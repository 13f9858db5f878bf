"""What a canary check asks and answers, and what the store keeps of a canary.

The control loop (`rollout.canary_controller`) asks a `CanaryJudge` port for a
`CanaryVerdict` on a `JudgeRequest`: candidate against baseline over two
windows of request records. The verdict carries the numbers behind it, one
`MetricRow` per metric (and per category), so a notification or `slipway
canary status` can show which metric crossed which threshold.

The store keeps a canary as an opaque JSON state with a few indexed columns
(`CanaryRecord`) and an append-only timeline (`CanaryEvent`): checks with
their metric tables, phase changes, operator actions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class VerdictAction(StrEnum):
    """What a check says to do, from the article's decision framework (as `analysis.decide` means it)."""

    #: Nothing worse than production (monitor and hold).
    PASS = "pass"
    #: A minor but significant change, below the investigate band (monitor and hold): the ramp goes on.
    HOLD = "hold"
    #: Too little data to judge a required metric (at the end of a phase: when in doubt, roll back).
    INCONCLUSIVE = "inconclusive"
    #: Stop at this weight; a person decides within 1–4 h (the default for p95 latency and output length).
    INVESTIGATE = "investigate"
    #: Weight 0 now: an immediate rollback.
    ROLLBACK = "rollback"

    @property
    def severity(self) -> int:
        """Higher is worse: the worst metric decides a check."""
        return _SEVERITY[self]

    @property
    def framework(self) -> str:
        """The decision framework's rule, in the article's words: what an operator would look up."""
        return _FRAMEWORK[self]

    def is_concern(self) -> bool:
        """Stops the ramp until it clears."""
        return self is VerdictAction.INVESTIGATE

    def advances(self) -> bool:
        """Good enough to move to the next step at the end of a phase."""
        return self in (VerdictAction.PASS, VerdictAction.HOLD)


_SEVERITY = {
    VerdictAction.PASS: 0,
    VerdictAction.HOLD: 1,
    VerdictAction.INCONCLUSIVE: 2,
    VerdictAction.INVESTIGATE: 3,
    VerdictAction.ROLLBACK: 4,
}
_FRAMEWORK = {
    VerdictAction.PASS: "monitor and hold",
    VerdictAction.HOLD: "monitor and hold",
    VerdictAction.INCONCLUSIVE: "when in doubt, roll back",
    VerdictAction.INVESTIGATE: "investigate, then decide",
    VerdictAction.ROLLBACK: "roll back at once",
}


_RATIO = re.compile(r"^> ([\d.]+)× production$")
_POINTS = re.compile(r"^> ([\d.]+) points drop$")
_PERCENT = re.compile(r"^> ([\d.]+) % drop$")

#: Said under a metric table with a "not significant yet" row (the CLI, the demo, notifications).
NOT_SIGNIFICANT_YET = (
    "not significant yet: the candidate looks worse than the threshold allows, but the test cannot tell "
    "it from production yet (p above its level; the interval still reaches production's value). "
    "More traffic decides it: checks go on, and a significant breach rolls back."
)


def looks_past_threshold(baseline: object, candidate: object, threshold: str) -> bool:
    """Whether the candidate's own figure is beyond the row's threshold, whatever the test says.

    Read from the row as shown (the threshold in words), so rows stored
    before this was asked, and rows read back from the API, answer too.
    """
    if not isinstance(baseline, int | float) or not isinstance(candidate, int | float):
        return False
    if found := _RATIO.match(threshold):
        return baseline > 0 and candidate / baseline > float(found.group(1))
    if found := _POINTS.match(threshold):
        return (baseline - candidate) * 100 > float(found.group(1))
    if found := _PERCENT.match(threshold):
        return baseline > 0 and (baseline - candidate) / baseline * 100 > float(found.group(1))
    return False


def verdict_words(action: str, baseline: object, candidate: object, threshold: str) -> str:
    """A row's action, saying so when a pass only means the evidence is not in yet."""
    if action == "pass" and looks_past_threshold(baseline, candidate, threshold):
        return "pass: not significant yet"
    return action


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One line of a verdict's metric table: candidate against baseline for one metric."""

    metric: str
    baseline: float | None
    candidate: float | None
    #: The rule, in words: "> 2× production", "> 5 points drop".
    threshold: str
    action: VerdictAction
    category: str | None = None
    n_baseline: int = 0
    n_candidate: int = 0
    #: The statistics behind the action: test, p-value, interval, or why there is none.
    detail: str = ""
    #: The same in a table cell: effect, interval and p-value, or why there is no verdict.
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "category": self.category,
            "baseline": self.baseline,
            "candidate": self.candidate,
            "threshold": self.threshold,
            "action": str(self.action),
            "n_baseline": self.n_baseline,
            "n_candidate": self.n_candidate,
            "detail": self.detail,
            "summary": self.summary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricRow:
        return cls(
            metric=str(data["metric"]),
            category=data.get("category"),
            baseline=data.get("baseline"),
            candidate=data.get("candidate"),
            threshold=str(data.get("threshold", "")),
            action=VerdictAction(data["action"]),
            n_baseline=int(data.get("n_baseline", 0)),
            n_candidate=int(data.get("n_candidate", 0)),
            detail=str(data.get("detail", "")),
            summary=str(data.get("summary", "")),
        )


@dataclass(frozen=True, slots=True)
class CanaryVerdict:
    """The answer of one check: an action, why, and the metric table behind it."""

    action: VerdictAction
    reason: str
    metrics: tuple[MetricRow, ...] = ()
    #: Anything else the judge reports (blast radius, sample sizes, method), JSON-ready.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": str(self.action),
            "reason": self.reason,
            "metrics": [m.to_dict() for m in self.metrics],
            "extra": dict(self.extra),
        }

    def uncovered(self) -> list[str]:
        """Categories carrying enough traffic to be required that lack the labels to be judged, in
        words ("billing: 40 of 58 labels on the candidate"); empty when every one is covered."""
        words = []
        for row in self.extra.get("coverage") or ():
            if not isinstance(row, Mapping) or row.get("covered") or not row.get("required"):
                continue
            needed = row.get("labels_needed")
            short = [
                f"{row.get(key)} of {needed} labels on {arm}"
                for key, arm in (("labels_baseline", "production"), ("labels_candidate", "the candidate"))
                if isinstance(row.get(key), int) and isinstance(needed, int) and row[key] < needed
            ]
            words.append(f"{row.get('category')}: {', '.join(short) or 'too few labels'}")
        return words

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CanaryVerdict:
        return cls(
            action=VerdictAction(data["action"]),
            reason=str(data.get("reason", "")),
            metrics=tuple(MetricRow.from_dict(m) for m in data.get("metrics", ())),
            extra=dict(data.get("extra") or {}),
        )


@dataclass(frozen=True, slots=True)
class JudgeRequest:
    """One check: compare `candidate_slot` in its window with `baseline_slot` in its window.

    Windows are [since, until) in the request records' time base (wall-clock
    seconds). During the ramp both windows are the same (production in the
    same window, not history); after promotion the baseline window is the
    canary's, because the old slot no longer gets traffic.
    """

    deployment_id: str
    baseline_slot: str
    candidate_slot: str
    baseline_since: float
    baseline_until: float
    candidate_since: float
    candidate_until: float
    #: 1-based number of this check within the canary.
    look: int
    #: 0-based phase index, and the candidate's weight in basis points during it.
    phase: int
    weight_bp: int
    #: True for the post-promotion monitoring windows (5 min, then 30 min, then daily checks).
    monitoring: bool = False
    #: 1-based number of this check within the phase, of the phase's planned checks.
    phase_look: int = 1
    planned_looks: int = 1


@dataclass(frozen=True, slots=True)
class CanaryRecord:
    """A canary as the store keeps it: indexed columns plus the strategy's own JSON state."""

    deployment_id: str
    status: str
    revision: int
    created_at: float
    updated_at: float
    state: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CanaryEvent:
    """One entry of a canary's timeline: a check (with its verdict), a phase change, an operator action."""

    deployment_id: str
    at: float
    kind: str
    phase: int
    weight_bp: int
    actor: str
    reason: str
    verdict: CanaryVerdict | None = None
