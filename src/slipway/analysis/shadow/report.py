"""The shadow report: every pair judged, grouped, tested, and one go / no-go.

    build_report(pairs, config, *, run=None, preferences=None, now) -> ShadowReport

Pure: pairs in, values out. The pairs are kept raw and judged here each time,
so a changed `shadow.checks` or `decision` re-judges everything collected.
The statistics are in `paired` (intervals, tests, sample sizes) and `groups`
(which groups are flagged, and which are only echoes of another); this module
counts, assembles and states the rule. docs/shadow.md explains it for operators.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

import numpy as np

from slipway.analysis.shadow.adequacy import adequacy
from slipway.analysis.shadow.compare import Outcome, PairOutcome, SideOutcome, compare_pair
from slipway.analysis.shadow.decision import decide, methods
from slipway.analysis.shadow.dimensions import REPORT_DIMENSIONS, ReportDimension
from slipway.analysis.shadow.groups import (
    GroupedDimension,
    GroupJudgement,
    IntArray,
    family_alpha,
    judge_groups,
)
from slipway.analysis.shadow.paired import PairedCounts, drop_interval, p_worse, wilson
from slipway.analysis.shadow.report_model import (
    Change,
    DimensionReport,
    Example,
    Group,
    PreferenceSummary,
    Rate,
    ShadowReport,
    Side,
)
from slipway.analysis.shadow.validators import FormatValidator
from slipway.core.shadow import Preference, ShadowAnswer, ShadowPair, ShadowRun
from slipway.core.shadow_config import ShadowConfig

EXAMPLES_PER_GROUP = 3
HEAD_CHARS = 240
_KIND = {Outcome.BOTH_PASS: 0, Outcome.REGRESSION: 1, Outcome.IMPROVEMENT: 2, Outcome.BOTH_FAIL: 3}


def _rate(count: int, n: int, confidence: float) -> Rate:
    low, high = wilson(count, n, confidence)
    return Rate(count, n, low, high)


def change_of(counts: PairedCounts, confidence: float) -> Change:
    low, high = drop_interval(counts, confidence)
    return Change(
        counts=counts,
        regression_rate=_rate(counts.regressions, counts.n, confidence),
        improvement_rate=_rate(counts.improvements, counts.n, confidence),
        net_change=-counts.drop,
        net_low=-high,
        net_high=-low,
        p_worse=p_worse(counts),
    )


def _head(text: str) -> str:
    return text if len(text) <= HEAD_CHARS else text[:HEAD_CHARS] + "…"


def _answer_head(answer: ShadowAnswer) -> str:
    if not answer.ok:
        return f"[{answer.error or f'HTTP {answer.status}'}]"
    return _head(answer.text)


def _side(
    role: str, answers: Sequence[ShadowAnswer], judged: Sequence[SideOutcome], confidence: float
) -> Side:
    n = len(answers)
    latencies = np.array([a.latency_ms for a in answers if a.ok], dtype=np.float64)
    labelled = [s.correct for s in judged if s.correct is not None]
    failed: Counter[str] = Counter(r.check for s in judged for r in s.format.failed)
    first = answers[0] if answers else None
    return Side(
        role=role,
        slot=first.slot if first else "",
        version=first.version if first else "",
        errors=_rate(sum(not a.ok for a in answers), n, confidence),
        format_ok=_rate(sum(s.format.passed for s in judged), n, confidence),
        correct=_rate(sum(labelled), len(labelled), confidence),
        passed=_rate(sum(s.passed for s in judged), n, confidence),
        latency_p50_ms=float(np.percentile(latencies, 50)) if latencies.size else None,
        latency_p95_ms=float(np.percentile(latencies, 95)) if latencies.size else None,
        failed_checks=dict(failed.most_common()),
    )


def _preference(prefs: Iterable[Preference | None], confidence: float) -> PreferenceSummary:
    scores = [p.score for p in prefs if p is not None]
    given = [s for s in scores if s is not None]
    wins = sum(s > 0 for s in given)
    losses = sum(s < 0 for s in given)
    ties = len(given) - wins - losses
    low, high = drop_interval(PairedCounts(ties, losses, wins, 0), confidence)
    mean = sum(given) / len(given) if given else None
    return PreferenceSummary(len(given), wins, ties, losses, len(scores) - len(given), mean, -high, -low)


def _grouped(dimension: ReportDimension, values: Sequence[str]) -> GroupedDimension:
    seen = Counter(values)
    if dimension.order:
        names = sorted(seen, key=lambda v: (dimension.rank(v), v))
    else:
        names = sorted(seen, key=lambda v: (-seen[v], v))
    index = {v: i for i, v in enumerate(names)}
    return GroupedDimension(
        dimension.name, np.array([index[v] for v in values], dtype=np.int64), tuple(names)
    )


def _examples(
    dims: Sequence[GroupedDimension],
    kinds: IntArray,
    pairs: Sequence[ShadowPair],
    outcomes: Sequence[PairOutcome],
) -> dict[tuple[int, int], list[Example]]:
    found: dict[tuple[int, int], list[Example]] = {}
    for i in (int(x) for x in np.flatnonzero(kinds == _KIND[Outcome.REGRESSION])):
        pair, outcome = pairs[i], outcomes[i]
        example: Example | None = None
        for d, dim in enumerate(dims):
            bucket = found.setdefault((d, int(dim.codes[i])), [])
            if len(bucket) < EXAMPLES_PER_GROUP:
                example = example or Example(
                    pair.pair_id,
                    outcome.category,
                    _head(pair.input_text),
                    _answer_head(pair.production),
                    _answer_head(pair.candidate),
                    outcome.reason,
                )
                bucket.append(example)
    return found


def _group_preferences(
    dim: GroupedDimension, outcomes: Sequence[PairOutcome]
) -> list[tuple[int, int, int]] | None:
    scores = [o.preference.score if o.preference is not None else None for o in outcomes]
    if all(s is None for s in scores):
        return None
    code = np.array([3 if s is None else (0 if s > 0 else 2 if s < 0 else 1) for s in scores], dtype=np.int64)
    table = np.bincount(dim.codes * 4 + code, minlength=len(dim.values) * 4).reshape(-1, 4)
    return [(int(r[0]), int(r[1]), int(r[2])) for r in table]


def _groups(
    dimension: ReportDimension,
    d: int,
    grouped: GroupedDimension,
    kinds: IntArray,
    judged: Mapping[tuple[int, int], GroupJudgement],
    examples: Mapping[tuple[int, int], list[Example]],
    outcomes: Sequence[PairOutcome],
    confidence: float,
) -> DimensionReport:
    table = np.bincount(grouped.codes * 4 + kinds, minlength=len(grouped.values) * 4).reshape(-1, 4)
    prefs = _group_preferences(grouped, outcomes)
    groups = []
    for g, value in enumerate(grouped.values):
        counts = PairedCounts(*(int(x) for x in table[g]))
        j = judged[(d, g)]
        groups.append(
            Group(
                dimension=dimension.name,
                value=value,
                production=_rate(counts.production_pass, counts.n, confidence),
                candidate=_rate(counts.candidate_pass, counts.n, confidence),
                change=change_of(counts, confidence),
                status=j.status,
                p_adjusted=j.p_adjusted,
                specific=j.specific,
                explained_by=tuple(f"{a} = {b}" for a, b in j.explained_by),
                examples=tuple(examples.get((d, g), ())),
                preference=None if prefs is None else prefs[g],
            )
        )
    return DimensionReport(dimension.name, dimension.title, tuple(groups))


def build_report(
    pairs: Iterable[ShadowPair],
    config: ShadowConfig,
    *,
    run: ShadowRun | None = None,
    preferences: Mapping[str, Preference] | None = None,
    now: float,
) -> ShadowReport:
    items = list(pairs)
    decision = config.decision
    confidence = decision.confidence
    validator = FormatValidator(config.checks)
    prefs = preferences or {}
    outcomes = [compare_pair(p, validator, config.scorers, prefs.get(p.pair_id)) for p in items]
    kinds = np.array([_KIND[o.outcome] for o in outcomes], dtype=np.int64)
    dims = REPORT_DIMENSIONS
    grouped = [_grouped(dim, [dim.value(p, o) for p, o in zip(items, outcomes, strict=True)]) for dim in dims]
    judged = judge_groups(grouped, kinds, decision)
    examples = _examples(grouped, kinds, items, outcomes)
    dimension_reports = tuple(
        _groups(dim, d, grouped[d], kinds, judged, examples, outcomes, confidence)
        for d, dim in enumerate(dims)
    )
    categories = {g.value: g.change.counts for g in dimension_reports[0].groups}
    needs = adequacy(categories, decision)
    total = PairedCounts(*(int((kinds == k).sum()) for k in range(4)))
    change = change_of(total, confidence)
    production = _side(
        "production", [p.production for p in items], [o.production for o in outcomes], confidence
    )
    candidate = _side("candidate", [p.candidate for p in items], [o.candidate for o in outcomes], confidence)
    if run is not None:
        production = replace(production, slot=run.production)
        candidate = replace(candidate, slot=run.candidate, version=run.version)
    given = [o.preference for o in outcomes]
    summary = _preference(given, confidence) if preferences else None
    alpha = 1.0 - confidence
    share = family_alpha(decision, len(dims))
    return ShadowReport(
        generated_at=now,
        run=run.to_dict() if run is not None else None,
        pairs=len(items),
        labelled=sum(o.production.correct is not None for o in outcomes),
        settings={
            "decision": decision.model_dump(),
            "alpha": alpha,
            "alpha_per_family": share,
            "checks": list(validator.names),
            "scorers": list(config.scorers),
        },
        production=production,
        candidate=candidate,
        change=change,
        preference=summary,
        dimensions=dimension_reports,
        adequacy=needs,
        verdict=decide(len(items), change, dimension_reports, needs, decision),
        methods=methods(decision, len(dims)),
    )
