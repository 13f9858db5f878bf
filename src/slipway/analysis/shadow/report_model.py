"""The shadow report as values: what `build_report` returns and every rendering reads.

Frozen dataclasses with `to_dict()` giving plain JSON (lists, dicts, str,
int, float, None; no NaN), because the report crosses process boundaries —
the admin API sends it, the CLI prints it, the HTML and CSV renderings read
the same dict — and must mean the same thing everywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from slipway.analysis.shadow.adequacy import Adequacy
from slipway.analysis.shadow.groups import Status
from slipway.analysis.shadow.paired import PairedCounts


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


@dataclass(frozen=True, slots=True)
class Rate:
    """count of n, with its confidence interval (Wilson)."""

    count: int
    n: int
    low: float
    high: float

    @property
    def value(self) -> float | None:
        return self.count / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "n": self.n, "rate": self.value, "ci": [self.low, self.high]}


@dataclass(frozen=True, slots=True)
class Side:
    """One slot's answers over the pairs."""

    role: str
    slot: str
    version: str
    errors: Rate
    format_ok: Rate
    #: Over the labelled pairs only; n = 0 when no pair has a label.
    correct: Rate
    #: Answered, format-compliant, and correct where labelled.
    passed: Rate
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    #: Answers failing each check (an answer failing two checks counts in both).
    failed_checks: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "slot": self.slot,
            "version": self.version,
            "error_rate": self.errors.to_dict(),
            "format_compliance": self.format_ok.to_dict(),
            "correctness": self.correct.to_dict(),
            "pass_rate": self.passed.to_dict(),
            "latency_p50_ms": _f(self.latency_p50_ms),
            "latency_p95_ms": _f(self.latency_p95_ms),
            "failed_checks": dict(self.failed_checks),
        }


@dataclass(frozen=True, slots=True)
class Change:
    """The paired comparison of one set of pairs: candidate against production."""

    counts: PairedCounts
    regression_rate: Rate
    improvement_rate: Rate
    #: Candidate's pass rate minus production's (negative: the candidate is worse), with its interval.
    net_change: float
    net_low: float
    net_high: float
    #: One-sided exact McNemar p-value for "the candidate is no worse".
    p_worse: float

    def to_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "n": c.n,
            "both_pass": c.both_pass,
            "regressions": c.regressions,
            "improvements": c.improvements,
            "both_fail": c.both_fail,
            "regression_rate": self.regression_rate.to_dict(),
            "improvement_rate": self.improvement_rate.to_dict(),
            "net_change": self.net_change,
            "net_change_ci": [self.net_low, self.net_high],
            "p_worse": self.p_worse,
        }


@dataclass(frozen=True, slots=True)
class PreferenceSummary:
    """The LLM judge's verdicts on the pairs it saw."""

    judged: int
    wins: int
    ties: int
    losses: int
    no_verdict: int
    mean_score: float | None
    #: Interval for (wins − losses) ÷ judged (Tango, as for the paired pass rates).
    low: float
    high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "judged": self.judged,
            "wins": self.wins,
            "ties": self.ties,
            "losses": self.losses,
            "no_verdict": self.no_verdict,
            "mean_score": _f(self.mean_score),
            "ci": [self.low, self.high],
        }


@dataclass(frozen=True, slots=True)
class Example:
    pair_id: str
    category: str
    input_head: str
    production_head: str
    candidate_head: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair_id": self.pair_id,
            "category": self.category,
            "input": self.input_head,
            "production": self.production_head,
            "candidate": self.candidate_head,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Group:
    dimension: str
    value: str
    production: Rate
    candidate: Rate
    change: Change
    status: Status
    #: Holm-adjusted p-value of the round that decided the status (None: never significant).
    p_adjusted: float | None
    #: A cause: its drop is concentrated in it (see `groups`).
    specific: bool
    #: For an explained group: "dimension = value" of the flagged groups that share its pairs.
    explained_by: tuple[str, ...]
    examples: tuple[Example, ...]
    #: (wins, ties, losses) of the judge in this group; None without judge verdicts.
    preference: tuple[int, int, int] | None = None

    @property
    def n(self) -> int:
        return self.change.counts.n

    @property
    def label(self) -> str:
        return f"{self.dimension} = {self.value}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "n": self.n,
            "status": self.status.value,
            "flagged": self.status.flagged,
            "specific": self.specific,
            "p_adjusted": self.p_adjusted,
            "explained_by": list(self.explained_by),
            "production_pass": self.production.to_dict(),
            "candidate_pass": self.candidate.to_dict(),
            "change": self.change.to_dict(),
            "preference": None
            if self.preference is None
            else dict(zip(("wins", "ties", "losses"), self.preference, strict=True)),
            "examples": [e.to_dict() for e in self.examples],
        }


@dataclass(frozen=True, slots=True)
class DimensionReport:
    name: str
    title: str
    groups: tuple[Group, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title, "groups": [g.to_dict() for g in self.groups]}


@dataclass(frozen=True, slots=True)
class Verdict:
    #: "go", "no-go" or "not yet".
    decision: str
    #: Why, one line each, most important first.
    reasons: tuple[str, ...]
    #: The rule applied, in words, with this report's numbers in it.
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return {"decision": self.decision, "reasons": list(self.reasons), "rule": self.rule}


@dataclass(frozen=True, slots=True)
class ShadowReport:
    generated_at: float
    run: dict[str, Any] | None
    pairs: int
    labelled: int
    settings: dict[str, Any]
    production: Side
    candidate: Side
    change: Change
    preference: PreferenceSummary | None
    dimensions: tuple[DimensionReport, ...]
    adequacy: tuple[Adequacy, ...]
    verdict: Verdict
    methods: dict[str, str]

    @property
    def flagged(self) -> tuple[Group, ...]:
        """Flagged groups, the causes first, then by how many pairs regressed."""
        found = [g for d in self.dimensions for g in d.groups if g.status.flagged]
        return tuple(sorted(found, key=lambda g: (not g.specific, -g.change.counts.regressions)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": self.generated_at,
            "run": self.run,
            "pairs": self.pairs,
            "labelled": self.labelled,
            "settings": self.settings,
            "verdict": self.verdict.to_dict(),
            "production": self.production.to_dict(),
            "candidate": self.candidate.to_dict(),
            "change": self.change.to_dict(),
            "preference": None if self.preference is None else self.preference.to_dict(),
            "flagged": [g.label for g in self.flagged],
            "dimensions": [d.to_dict() for d in self.dimensions],
            "adequacy": [a.to_dict() for a in self.adequacy],
            "methods": dict(self.methods),
        }
