"""The canary's judge: `analysis.decide` over arm samples from the store, behind the CanaryJudge port.

Reads both arms' windows (`analysis.sources.store`), judges them with the
threshold table (`decide.judge`: anytime-valid tests per metric and per
category, actions from rollback to pass), computes the blast radius (the
share of traffic the candidate served while bad), and hands the
controller a `CanaryVerdict` whose metric table carries every number behind
the action: both arms' values, the threshold, sample sizes, the test, the
anytime-valid interval and the p-value the decision used.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slipway.analysis.coverage import CategoryCoverage, CoverageSettings, coverage, reference_gaps
from slipway.analysis.decide import (
    BlastRadius,
    MetricResult,
    Outcome,
    Verdict,
    blast_radius,
    format_effect,
    judge,
)
from slipway.analysis.decide import Look as AnalysisLook
from slipway.analysis.output_checks import DEFAULT_CHECKS, OutputCheck
from slipway.analysis.samples import ArmSample
from slipway.analysis.sources.store import arm_sample, arm_samples
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from slipway.core.arms import ArmWindowReader
from slipway.core.canary import CanaryVerdict, JudgeRequest, MetricRow, VerdictAction

_RATIO_METRICS = (
    "error_rate",
    "latency_p95",
    "ttft_p95",
    "output_length_variance",
    "stream_abort_rate",
    "invalid_output_rate",
)


def thresholds_from(overrides: Mapping[str, Any]) -> Thresholds:
    """The default table with `overrides` laid over it, key by key (`{latency_p95: {action: rollback}}`).

    Raises pydantic's ValidationError for a bad key or value; the caller names the config field.
    """
    merged = DEFAULT_THRESHOLDS.model_dump()
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return Thresholds.model_validate(merged)


class AnalysisJudge:
    def __init__(
        self,
        store: ArmWindowReader,
        thresholds: Callable[[], Thresholds] = lambda: DEFAULT_THRESHOLDS,
        checks: Callable[[], Sequence[OutputCheck]] = lambda: DEFAULT_CHECKS,
    ) -> None:
        self._store = store
        self._thresholds = thresholds
        self._checks = checks

    def min_samples(self) -> int:
        return self._thresholds().verdict_min_samples()

    async def evaluate(self, request: JudgeRequest) -> CanaryVerdict:
        checks = self._checks()
        same = (request.baseline_since, request.baseline_until) == (
            request.candidate_since,
            request.candidate_until,
        )
        if same:
            samples = await arm_samples(
                self._store,
                [request.baseline_slot, request.candidate_slot],
                request.baseline_since,
                request.baseline_until,
                checks,
            )
            base, cand = samples[request.baseline_slot], samples[request.candidate_slot]
        else:
            base, cand = await asyncio.gather(
                arm_sample(
                    self._store, request.baseline_slot, request.baseline_since, request.baseline_until, checks
                ),
                arm_sample(
                    self._store,
                    request.candidate_slot,
                    request.candidate_since,
                    request.candidate_until,
                    checks,
                ),
            )
        look = AnalysisLook(index=request.phase_look, planned_looks=max(request.planned_looks, 1))
        thresholds = self._thresholds()
        verdict = judge(base, cand, thresholds, look, other_window=not same)
        # Blast radius: while both arms share the window, they are all of the traffic that split.
        radius = blast_radius(cand, [base, cand], verdict) if same else None
        settings = coverage_settings(thresholds)
        level = category_level(thresholds, base, cand)
        covered = coverage(base, cand, level=level, settings=settings, baseline_grows=same)
        return to_canary_verdict(verdict, radius, covered)

    async def reference_gaps(self, slot: str, since: float, until: float) -> list[str]:
        """Categories `slot`'s traffic in [since, until) lacks the labels to judge (a bake's reference)."""
        base = await arm_sample(self._store, slot, since, until, self._checks())
        thresholds = self._thresholds()
        return reference_gaps(
            base, level=category_level(thresholds, base, base), settings=coverage_settings(thresholds)
        )


def coverage_settings(thresholds: Thresholds) -> CoverageSettings:
    return CoverageSettings(
        detect_drop=thresholds.coverage_drop,
        power=thresholds.coverage_power,
        min_share=thresholds.coverage_min_share,
    )


def category_level(thresholds: Thresholds, base: ArmSample, cand: ArmSample) -> float:
    """About the level the check spends on one category's accuracy: its metric's share of alpha,
    split evenly over the categories either arm labelled (and the pooled row)."""
    weights = [m.weight for m in thresholds.metrics().values() if m.enabled]
    share = thresholds.accuracy.weight / sum(weights) if thresholds.accuracy.enabled and weights else 1.0
    categories = len(base.per_category.keys() | cand.per_category.keys()) + 1
    return thresholds.alpha * share / categories


def to_canary_verdict(
    verdict: Verdict, radius: BlastRadius | None = None, covered: Sequence[CategoryCoverage] = ()
) -> CanaryVerdict:
    extra: dict[str, object] = {"framework": verdict.framework}
    if covered:
        extra["coverage"] = [row.to_dict() for row in covered]
    if verdict.decide_within_s is not None:
        extra["decide_within_s"] = verdict.decide_within_s
    if radius is not None:
        extra["blast_radius_summary"] = radius.summary()
        extra["blast_radius"] = {
            "share": radius.share,
            "candidate_requests": radius.candidate_requests,
            "total_requests": radius.total_requests,
            "per_category": {
                c.category: {
                    "share": c.share,
                    "candidate_requests": c.candidate_requests,
                    "failing": c.failing,
                }
                for c in radius.per_category
            },
        }
    return CanaryVerdict(
        action=verdict.action,
        reason=verdict.reason,
        metrics=tuple(_row(m) for m in verdict.metrics if m.outcome is not Outcome.UNAVAILABLE),
        extra=extra,
    )


def _row(m: MetricResult) -> MetricRow:
    c = m.comparison
    detail = m.reason
    if c is not None:
        detail += f"; {c.test}, p={m.p_decision:.2g} (level {m.alpha:.2g})"
        if math.isfinite(c.lower) and math.isfinite(c.upper):
            detail += f", interval [{c.lower:.3g}, {c.upper:.3g}]"
        effect = "undefined" if c.estimate is None else format_effect(c.scale, c.estimate)
        low, high = (format_effect(c.scale, bound, unit=False) for bound in (c.lower, c.upper))
        summary = f"{effect} ({low} … {high}), p={m.p_decision:.2g}"
    elif m.outcome is Outcome.INSUFFICIENT:
        summary = f"too few samples: need {m.min_samples} each"
    else:
        summary = m.reason
    return MetricRow(
        metric=m.metric,
        category=m.category,
        baseline=c.baseline if c is not None else None,
        candidate=c.candidate if c is not None else None,
        threshold=_threshold_words(m),
        # A row too thin to judge reads "inconclusive", never "pass": nothing vouched for it yet. (Its
        # metric still does not decide the verdict unless it is required; see analysis.decide.)
        action=VerdictAction.INCONCLUSIVE if m.outcome is Outcome.INSUFFICIENT else m.action,
        n_baseline=m.n_baseline,
        n_candidate=m.n_candidate,
        detail=detail,
        summary=summary,
    )


def _threshold_words(m: MetricResult) -> str:
    if m.metric in _RATIO_METRICS:
        return f"> {m.threshold:g}× production"
    if m.metric == "accuracy":
        return f"> {m.threshold * 100:g} points drop"
    return f"> {m.threshold * 100:g} % drop"
