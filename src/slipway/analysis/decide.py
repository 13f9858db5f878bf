"""The canary's judgement: one function of two samples, the threshold table and the look.

Interface (the controller codes against it):

    judge(baseline: ArmSample, candidate: ArmSample,
          thresholds: Thresholds = DEFAULT_THRESHOLDS, look: Look | None = None) -> Verdict
    phase_end(verdict: Verdict, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> PhaseEndChoice
    blast_radius(candidate: ArmSample, all_traffic: ArmSample | Sequence[ArmSample],
                 verdict: Verdict | None = None) -> BlastRadius

`Verdict.action` is one of (worst first):

* rollback: set the weight to 0 now and notify.
* investigate: hold the weight and notify; an operator decides within
  `investigate_within_s` (1–4 h), after which it rolls back ("when in doubt,
  roll back").
* inconclusive: a required metric lacks its minimum sample; keep checking;
  at a phase's last look apply `inconclusive_action` (default rollback: when
  in doubt, roll back).
* hold: a minor but significant change, below the investigate band; keep checking;
  at a phase's last look apply `hold_action` (default promote).
* pass: nothing worse than production; keep checking; at a phase's last
  look promote.

`phase_end(verdict)` turns a verdict at a phase's last look into promote /
rollback / extend / hold. `Verdict.reason` is one line for a notification;
`Verdict.metrics` has every metric (and every category's accuracy) with its
estimate, anytime-valid interval, sample sizes, test and p-values.

How one metric is judged: significantly worse than the baseline (anytime-
valid p-value against "no change" ≤ the metric's share of `alpha`; Holm across
categories) is the evidence; the estimate then places it: beyond the threshold
→ breach (the metric's action), in the investigate band → drift (investigate), below →
minor (hold). Not significant → ok, whatever the estimate: noise in a thin
category does not roll a canary back. Below `min_samples` in either arm → not
judged (insufficient); for a `required` metric that makes the verdict
inconclusive. Checks are stateless: `judge` sees cumulative samples and needs no
history, because every test is valid at any number of looks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slipway.analysis.blast import BlastRadius, CategoryBlast, blast_radius
from slipway.analysis.mix import standardized_rates
from slipway.analysis.samples import ArmSample, CategoryCount, FloatArray
from slipway.analysis.stats import (
    Comparison,
    Scale,
    bonferroni,
    compare_quantiles,
    compare_rates,
    compare_spread,
    holm,
)
from slipway.analysis.thresholds import (
    DEFAULT_THRESHOLDS,
    METRIC_NAMES,
    MetricAction,
    MetricThreshold,
    PhaseEndChoice,
    Thresholds,
)
from slipway.analysis.verdict import ALL_CATEGORIES, Action, Look, MetricResult, Outcome, Verdict

__all__ = [
    "ALL_CATEGORIES",
    "Action",
    "BlastRadius",
    "CategoryBlast",
    "Look",
    "MetricResult",
    "Outcome",
    "Verdict",
    "blast_radius",
    "judge",
    "phase_end",
]

# -- judging ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plan:
    """One metric's data, before judging."""

    metric: str
    category: str | None
    settings: MetricThreshold
    scale: Scale
    n_baseline: int
    n_candidate: int
    rates: tuple[int, int, int, int] | None = None  # x_c, n_c, x_b, n_b
    values: tuple[FloatArray, FloatArray] | None = None  # baseline, candidate
    quantile: float | None = None


def judge(
    baseline: ArmSample,
    candidate: ArmSample,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    look: Look | None = None,
    *,
    other_window: bool = False,
) -> Verdict:
    """Compare the candidate with the baseline; see the module docstring.

    `other_window`: the baseline was measured over another stretch of time
    (a bake, the monitoring windows), so the pooled accuracy is compared on
    the candidate's category mix (`analysis.mix`).
    """
    look = look or Look()
    settings = thresholds.metrics()
    enabled = {name: s for name, s in settings.items() if s.enabled}
    total_weight = sum(s.weight for s in enabled.values()) or 1.0
    results: list[MetricResult] = []
    for name in METRIC_NAMES:
        s = settings[name]
        if not s.enabled:
            results.append(_unjudged(name, None, s, Outcome.UNAVAILABLE, 0, 0, "disabled"))
            continue
        share = thresholds.alpha * s.weight / total_weight
        if name == "accuracy":
            results.extend(_judge_accuracy(baseline, candidate, s, share, thresholds, other_window))
            continue
        plan = _plan(name, s, baseline, candidate, thresholds)
        results.append(_judge_one(plan, share, share))
    return _verdict(tuple(results), look, thresholds)


def _plan(name: str, s: MetricThreshold, base: ArmSample, cand: ArmSample, thresholds: Thresholds) -> _Plan:
    if name == "error_rate":
        return _rate_plan(name, s, Scale.RATIO, cand.errors, cand.requests, base.errors, base.requests)
    if name == "stream_abort_rate":
        return _rate_plan(
            name, s, Scale.RATIO, cand.aborted_streams, cand.streams, base.aborted_streams, base.streams
        )
    if name == "invalid_output_rate":
        return _rate_plan(
            name,
            s,
            Scale.RATIO,
            cand.invalid_outputs,
            cand.checked_outputs,
            base.invalid_outputs,
            base.checked_outputs,
        )
    if name == "satisfaction":
        return _rate_plan(
            name, s, Scale.RELATIVE_DROP, cand.satisfied, cand.rated, base.satisfied, base.rated
        )
    if name in ("latency_p95", "ttft_p95"):
        b, c = (base.latency_ms, cand.latency_ms) if name == "latency_p95" else (base.ttft_ms, cand.ttft_ms)
        return _Plan(
            name, None, s, Scale.RATIO, len(b), len(c), values=(b, c), quantile=thresholds.latency_quantile
        )
    if name == "output_length_variance":
        b, c = base.output_chars, cand.output_chars
        return _Plan(name, None, s, Scale.RATIO, len(b), len(c), values=(b, c))
    raise ValueError(f"unknown metric {name!r}")


def _rate_plan(
    name: str,
    s: MetricThreshold,
    scale: Scale,
    xc: int,
    nc: int,
    xb: int,
    nb: int,
    category: str | None = None,
) -> _Plan:
    return _Plan(name, category, s, scale, nb, nc, rates=(xc, nc, xb, nb))


def _sufficiency(plan: _Plan) -> Outcome | None:
    """UNAVAILABLE / INSUFFICIENT, or None when the metric can be judged."""
    if plan.n_baseline == 0 and plan.n_candidate == 0:
        return Outcome.UNAVAILABLE
    need = max(plan.settings.min_samples, 2)
    if plan.n_baseline < need or plan.n_candidate < need:
        return Outcome.INSUFFICIENT
    return None


def _compare(plan: _Plan, alpha: float) -> Comparison:
    s = plan.settings
    if plan.rates is not None:
        xc, nc, xb, nb = plan.rates
        return compare_rates(xc, nc, xb, nb, scale=plan.scale, threshold=s.threshold, alpha=alpha)
    assert plan.values is not None
    base, cand = plan.values
    if plan.quantile is not None:
        return compare_quantiles(base, cand, q=plan.quantile, threshold=s.threshold, alpha=alpha)
    return compare_spread(base, cand, threshold=s.threshold, alpha=alpha)


def _judge_one(
    plan: _Plan,
    alpha: float,
    interval_alpha: float,
    p_decision: float | None = None,
    comparison: Comparison | None = None,
) -> MetricResult:
    s = plan.settings
    missing = _sufficiency(plan)
    if missing is not None:
        return _unjudged(
            plan.metric,
            plan.category,
            s,
            missing,
            plan.n_baseline,
            plan.n_candidate,
            _why_unjudged(plan, missing),
        )
    comparison = comparison or _compare(plan, interval_alpha)
    p = comparison.p_value if p_decision is None else p_decision
    outcome = _classify(comparison, s, p, alpha)
    action = _ACTION_OF[outcome] if outcome is not Outcome.BREACH else _breach_action(s)
    return MetricResult(
        metric=plan.metric,
        category=plan.category,
        outcome=outcome,
        action=action,
        comparison=comparison,
        n_baseline=plan.n_baseline,
        n_candidate=plan.n_candidate,
        threshold=s.threshold,
        investigate_above=s.investigate_above,
        min_samples=s.min_samples,
        alpha=alpha,
        p_decision=p,
        reason=_describe(plan.metric, plan.category, outcome, comparison, s, p),
    )


def _classify(c: Comparison, s: MetricThreshold, p: float, alpha: float) -> Outcome:
    if p > alpha:
        return Outcome.OK
    estimate = math.inf if c.estimate is None else c.estimate
    if estimate > s.threshold:
        return Outcome.BREACH
    if s.investigate_above is not None and estimate >= s.investigate_above:
        return Outcome.DRIFT
    return Outcome.MINOR


def _breach_action(s: MetricThreshold) -> Action:
    return Action.ROLLBACK if s.action is MetricAction.ROLLBACK else Action.INVESTIGATE


_ACTION_OF = {
    Outcome.OK: Action.PASS,
    Outcome.MINOR: Action.HOLD,
    Outcome.DRIFT: Action.INVESTIGATE,
    Outcome.UNAVAILABLE: Action.PASS,
}


def _unjudged(
    metric: str,
    category: str | None,
    s: MetricThreshold,
    outcome: Outcome,
    n_baseline: int,
    n_candidate: int,
    reason: str,
) -> MetricResult:
    blocking = s.required and s.enabled and category is None
    return MetricResult(
        metric=metric,
        category=category,
        outcome=outcome,
        action=Action.INCONCLUSIVE if blocking else Action.PASS,
        comparison=None,
        n_baseline=n_baseline,
        n_candidate=n_candidate,
        threshold=s.threshold,
        investigate_above=s.investigate_above,
        min_samples=s.min_samples,
        alpha=0.0,
        p_decision=1.0,
        reason=reason,
    )


def _judge_accuracy(
    base: ArmSample,
    cand: ArmSample,
    s: MetricThreshold,
    alpha: float,
    thresholds: Thresholds,
    other_window: bool = False,
) -> list[MetricResult]:
    """Accuracy per category, plus all categories pooled, with Holm (or Bonferroni) across them."""
    names = sorted(base.per_category.keys() | cand.per_category.keys())
    plans = [
        _rate_plan(
            "accuracy",
            s,
            Scale.DROP,
            cand.per_category.get(c, _NONE).correct,
            cand.per_category.get(c, _NONE).n,
            base.per_category.get(c, _NONE).correct,
            base.per_category.get(c, _NONE).n,
            category=c,
        )
        for c in names
    ]
    if len(names) > 1:
        b, c = base.labelled, cand.labelled
        pooled = (c.correct, c.n, b.correct, b.n)
        if other_window:
            pooled = standardized_rates(base, cand) or pooled
        plans.append(_rate_plan("accuracy", s, Scale.DROP, *pooled, category=ALL_CATEGORIES))
    if not plans:
        return [
            _unjudged("accuracy", None, s, Outcome.UNAVAILABLE, 0, 0, "no ground-truth labels in the window")
        ]
    # The family is every category with labels (judged or not yet), so that it
    # does not shrink, and the per-test level grow, while thin categories fill up.
    # Half of alpha is shared equally, half by traffic: a regression in a category
    # carrying 20 % of the requests needs less evidence than one carrying 0.3 %.
    family = len(plans)
    weights = _category_weights(plans, base, cand)
    judged = [i for i, p in enumerate(plans) if _sufficiency(p) is None]
    comparisons = {i: _compare(plans[i], alpha * weights[i]) for i in judged}
    raw = [comparisons[i].p_value if i in comparisons else 1.0 for i in range(family)]
    adjust = holm if thresholds.category_correction == "holm" else bonferroni
    adjusted = adjust(raw, weights)
    results = []
    for i, plan in enumerate(plans):
        level = alpha * weights[i]  # the interval's level: this category's Bonferroni share
        if i in comparisons:
            results.append(_judge_one(plan, alpha, level, p_decision=adjusted[i], comparison=comparisons[i]))
        else:
            results.append(_judge_one(plan, alpha, level))
    if not judged and s.required:
        results.append(
            _unjudged("accuracy", None, s, Outcome.INSUFFICIENT, 0, 0, "no category has enough labels yet")
        )
    return results


_NONE = CategoryCount(0, 0)


def _category_weights(plans: Sequence[_Plan], base: ArmSample, cand: ArmSample) -> list[float]:
    """Each category's share of the accuracy alpha: half equal, half by its share of all traffic.

    Traffic shares come from request counts, not from outcomes, so the weights
    are fixed before any accuracy is looked at. The pooled "(all)" entry gets
    the equal half only. Weights sum to 1.
    """
    m = len(plans)
    traffic = {
        p.category: base.category_requests.get(p.category or "", 0)
        + cand.category_requests.get(p.category or "", 0)
        for p in plans
        if p.category != ALL_CATEGORIES
    }
    total = sum(traffic.values())
    weights = []
    for p in plans:
        share = traffic.get(p.category, 0) / total if total and p.category != ALL_CATEGORIES else 0.0
        weights.append(0.5 / m + (0.5 * share if total else 0.5 / m))
    scale = sum(weights)
    return [w / scale for w in weights]


# -- the verdict ------------------------------------------------------------------------


def _verdict(results: tuple[MetricResult, ...], look: Look, thresholds: Thresholds) -> Verdict:
    action = max((r.action for r in results), key=lambda a: a.severity, default=Action.PASS)
    within = {
        Action.INVESTIGATE: thresholds.investigate_within_s,
        Action.HOLD: thresholds.hold_for_s,
    }.get(action)
    return Verdict(action, _headline(action, results), results, look, within)


def _headline(action: Action, results: Sequence[MetricResult]) -> str:
    if action is Action.PASS:
        judged = [r for r in results if r.comparison is not None]
        thin = [r for r in results if r.outcome is Outcome.INSUFFICIENT]
        tail = f"; {len(thin)} not judged yet (too few samples)" if thin else ""
        return f"pass ({action.framework}): nothing worse than production in {len(judged)} comparisons{tail}"
    culprits = [r for r in results if r.action is action]
    culprits.sort(key=lambda r: (r.p_decision, r.name))
    shown = "; ".join(r.reason for r in culprits[:2])
    more = f" (+{len(culprits) - 2} more)" if len(culprits) > 2 else ""
    return f"{action.value} ({action.framework}): {shown}{more}{_pooled_hint(culprits, results)}"


def _pooled_hint(culprits: Sequence[MetricResult], results: Sequence[MetricResult]) -> str:
    """When only the pooled accuracy fired, say which category lost the most answers.

    An operator paged with "accuracy[(all)] dropped" asks "where?" first; the
    category with the most answers lost (drop × its sample) is where to look,
    even though no single category is significant on its own yet.
    """
    accuracy = [r for r in culprits if r.metric == "accuracy"]
    if not accuracy or any(r.category != ALL_CATEGORIES for r in accuracy):
        return ""
    parts = [
        r
        for r in results
        if r.metric == "accuracy" and r.category not in (None, ALL_CATEGORIES) and (r.estimate or 0) > 0
    ]
    if not parts:
        return ""
    worst = max(parts, key=lambda r: ((r.estimate or 0) * r.n_candidate, r.name))
    assert worst.comparison is not None
    c = worst.comparison
    return (
        f"; most of it is {worst.category} ({_fmt_value('accuracy', c.baseline)} → "
        f"{_fmt_value('accuracy', c.candidate)}, not significant on its own yet)"
    )


def _why_unjudged(plan: _Plan, outcome: Outcome) -> str:
    name = plan.metric if plan.category is None else f"{plan.metric}[{plan.category}]"
    if outcome is Outcome.UNAVAILABLE:
        return f"{name}: no data in either arm"
    return (
        f"{name}: too few samples (candidate {plan.n_candidate}, baseline {plan.n_baseline}; "
        f"need {plan.settings.min_samples} each)"
    )


def format_effect(scale: Scale, value: float, *, unit: bool = True) -> str:
    """An effect as the tables show it: 1.50×, +15.9 pts drop, +12.0 % drop; without `unit`, the number."""
    if math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if scale is Scale.RATIO:
        return f"{value:.2f}×" if unit else f"{value:.2f}"
    number = f"{value * 100:+.1f}"
    if not unit:
        return number
    return f"{number} pts drop" if scale is Scale.DROP else f"{number} % drop"


def _fmt_value(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric in ("latency_p95", "ttft_p95"):
        return f"{value:.0f} ms"
    if metric == "output_length_variance":
        return f"sd {value:.0f} chars"
    return f"{value:.3f}" if value < 0.1 else f"{value:.2f}"


def _describe(
    metric: str, category: str | None, outcome: Outcome, c: Comparison, s: MetricThreshold, p: float
) -> str:
    name = metric if category is None else f"{metric}[{category}]"
    estimate = "undefined" if c.estimate is None else format_effect(c.scale, c.estimate)
    numbers = (
        f"{_fmt_value(metric, c.baseline)} → {_fmt_value(metric, c.candidate)}, {estimate} "
        f"(interval {format_effect(c.scale, c.lower)} … {format_effect(c.scale, c.upper)}, p={p:.2g}, "
        f"n={c.n_baseline}/{c.n_candidate} production/candidate)"
    )
    limit = format_effect(c.scale, s.threshold)
    if outcome is Outcome.BREACH:
        return f"{name} {numbers} beyond the threshold {limit}"
    if outcome is Outcome.DRIFT:
        band = format_effect(c.scale, s.investigate_above or 0.0)
        return f"{name} {numbers} worse, within the investigate band {band} to {limit}"
    if outcome is Outcome.MINOR:
        return f"{name} {numbers} worse, but below the investigate band"
    return f"{name} {numbers} not worse than production"


# -- after the verdict --------------------------------------------------------------------


def phase_end(verdict: Verdict, thresholds: Thresholds = DEFAULT_THRESHOLDS) -> PhaseEndChoice:
    """What the last check of a phase means for the ramp: promote, roll back, extend or hold."""
    if verdict.action is Action.PASS:
        return PhaseEndChoice.PROMOTE
    if verdict.action is Action.ROLLBACK:
        return PhaseEndChoice.ROLLBACK
    if verdict.action is Action.INVESTIGATE:
        return PhaseEndChoice.HOLD
    if verdict.action is Action.HOLD:
        return thresholds.hold_action
    return thresholds.inconclusive_action
