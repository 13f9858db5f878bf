"""Judging an evaluation suite's run: per category, paired against production, plus the hard cases.

Both slots answer the same cases, so the comparison is paired (McNemar's
test and Tango's interval, as in the shadow report): what separates them is
carried by the cases one got right and the other wrong. A category fails the
gate when the candidate is worse there by more than the allowed drop *with
confidence* (the one-sided lower bound of the drop is above it), at a level
split over the categories and the whole, so a suite with many categories
does not fail an identical candidate by chance. Hard cases (`must_pass`,
typically the failures earlier rollbacks taught us) must pass on the
candidate whatever production answers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slipway.analysis.shadow.paired import PairedCounts, drop_bounds, p_worse, z_one_sided

WHOLE = "(all cases)"


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One case as both slots answered it; `baseline_passed` is None when run alone."""

    id: str
    category: str
    must_pass: bool
    candidate_passed: bool
    candidate_answer: str
    failures: tuple[str, ...] = ()
    baseline_passed: bool | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class GateRule:
    max_drop_points: float
    alpha: float
    min_accuracy: float | None = None


def judge_suite(outcomes: Sequence[CaseOutcome], rule: GateRule, *, suite: str) -> dict[str, Any]:
    """The run's stored result: passed, the reasons in words, per-category numbers and every case."""
    paired = bool(outcomes) and all(o.baseline_passed is not None for o in outcomes)
    groups: dict[str, list[CaseOutcome]] = defaultdict(list)
    for outcome in outcomes:
        groups[outcome.category].append(outcome)
    tests = len(groups) + 1
    z = z_one_sided(rule.alpha / tests)
    categories = {name: _category(groups[name], rule, z, paired) for name in sorted(groups)}
    whole = _category(list(outcomes), rule, z, paired)
    reasons: list[str] = []
    for name, row in [*categories.items(), (WHOLE, whole)]:
        if row["significant"]:
            reasons.append(_worse_words(name, row, rule))
    hard_failed = [o for o in outcomes if o.must_pass and not o.candidate_passed]
    reasons.extend(
        f"hard case {o.id} ({o.category}) failed: {'; '.join(o.failures) or 'wrong answer'}"
        for o in hard_failed
    )
    accuracy = whole["candidate_correct"] / whole["n"] if whole["n"] else 0.0
    if not paired and rule.min_accuracy is not None and accuracy < rule.min_accuracy:
        reasons.append(f"{accuracy:.0%} of cases passed; the suite asks for at least {rule.min_accuracy:.0%}")
    if not outcomes:
        reasons.append("the suite has no cases: nothing was checked")
    passed = not reasons
    result: dict[str, Any] = {
        "passed": passed,
        "paired": paired,
        "total": len(outcomes),
        "failed": sum(1 for o in outcomes if not o.candidate_passed),
        "must_pass": sum(1 for o in outcomes if o.must_pass),
        "must_pass_failed": len(hard_failed),
        "rule": {
            "max_drop_points": rule.max_drop_points,
            "alpha": rule.alpha,
            "min_accuracy": rule.min_accuracy,
        },
        "categories": categories,
        "whole": whole,
        "reasons": reasons,
        "cases": [_case(o) for o in outcomes],
    }
    result["text"] = _summary(suite, result)
    return result


def _category(rows: Sequence[CaseOutcome], rule: GateRule, z: float, paired: bool) -> dict[str, Any]:
    n = len(rows)
    candidate = sum(1 for r in rows if r.candidate_passed)
    row: dict[str, Any] = {"n": n, "candidate_correct": candidate, "baseline_correct": None}
    row.update(p_value=None, worse_by_points=None, lower_bound_points=None, significant=False)
    if not paired or n == 0:
        return row
    counts = PairedCounts(
        both_pass=sum(1 for r in rows if r.baseline_passed and r.candidate_passed),
        regressions=sum(1 for r in rows if r.baseline_passed and not r.candidate_passed),
        improvements=sum(1 for r in rows if not r.baseline_passed and r.candidate_passed),
        both_fail=sum(1 for r in rows if not r.baseline_passed and not r.candidate_passed),
    )
    lower, _upper = drop_bounds(counts, z, math.inf)
    row.update(
        baseline_correct=counts.production_pass,
        regressions=counts.regressions,
        improvements=counts.improvements,
        p_value=p_worse(counts),
        worse_by_points=round(counts.drop * 100, 2),
        lower_bound_points=round(lower * 100, 2),
        significant=lower * 100 > rule.max_drop_points,
    )
    return row


def _worse_words(name: str, row: dict[str, Any], rule: GateRule) -> str:
    n = row["n"]
    return (
        f"{name}: {row['candidate_correct']} of {n} right against {row['baseline_correct']} of {n} "
        "on production, "
        f"worse by {row['worse_by_points']:.0f} points (at least {row['lower_bound_points']:.0f} with "
        f"{1 - rule.alpha:.0%} confidence; the suite allows {rule.max_drop_points:g})"
    )


def _case(o: CaseOutcome) -> dict[str, Any]:
    return {
        "id": o.id,
        "category": o.category,
        "must_pass": o.must_pass,
        "candidate_passed": o.candidate_passed,
        "baseline_passed": o.baseline_passed,
        "candidate_answer": o.candidate_answer,
        "failures": list(o.failures),
        "origin": o.origin,
    }


def _summary(suite: str, result: dict[str, Any]) -> str:
    verdict = "passed" if result["passed"] else "FAILED"
    total, failed = result["total"], result["failed"]
    head = f"suite {suite} {verdict}: {total - failed}/{total} cases right"
    whole = result["whole"]
    if result["paired"] and whole["n"]:
        head += f" (production {whole['baseline_correct']}/{whole['n']})"
    if result["must_pass"]:
        head += f"; hard cases {result['must_pass'] - result['must_pass_failed']}/{result['must_pass']}"
    return "\n".join([head, *(f"  {reason}" for reason in result["reasons"])])
