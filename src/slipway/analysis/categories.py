"""Per-category accuracy, candidate against baseline: the regression an average hides.

The classic failure: a retrain (v2.2) better on average and 30 % worse on billing.
So outcomes are scored per category (the ground-truth label from feedback),
and a category counts as regressed only when the drop is both large enough
to matter (`min_drop`, in accuracy points) and unlikely to be chance: a
one-sided Fisher exact test on the 2×2 table of correct/incorrect answers,
which stays exact at the small counts a canary or a post-switch window has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: str
    n: int
    correct: int

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


@dataclass(frozen=True, slots=True)
class CategoryComparison:
    category: str
    baseline: CategoryScore
    candidate: CategoryScore
    #: Baseline accuracy minus candidate accuracy, in [−1, 1]; positive is worse.
    drop: float
    #: One-sided p-value that the candidate is worse (1.0 when there is too little data).
    p_value: float
    regressed: bool
    #: Why the verdict is what it is, in words an operator reads in a log or a page.
    reason: str
    #: Down by at least `min_drop` without being significant yet, or too few
    #: samples to judge: an evaluator with a fixed window would call this a pass.
    needs_more_data: bool = False


def score_by_category(outcomes: Iterable[tuple[str, bool]]) -> dict[str, CategoryScore]:
    """(category, answer was correct) pairs → a score per category, in first-seen order."""
    counts: dict[str, list[int]] = {}
    for category, correct in outcomes:
        tally = counts.setdefault(category, [0, 0])
        tally[0] += 1
        tally[1] += int(correct)
    return {c: CategoryScore(c, n, k) for c, (n, k) in counts.items()}


def overall(scores: Mapping[str, CategoryScore]) -> CategoryScore:
    return CategoryScore(
        "overall", sum(s.n for s in scores.values()), sum(s.correct for s in scores.values())
    )


def compare_categories(
    baseline: Mapping[str, CategoryScore],
    candidate: Mapping[str, CategoryScore],
    *,
    min_drop: float = 0.05,
    alpha: float = 0.01,
    min_samples: int = 20,
) -> list[CategoryComparison]:
    """Every category both sides saw, worst drop first."""
    out: list[CategoryComparison] = []
    for category in baseline.keys() & candidate.keys():
        base, cand = baseline[category], candidate[category]
        drop = base.accuracy - cand.accuracy
        if min(base.n, cand.n) < min_samples:
            p_value, regressed, more = 1.0, False, True
            reason = f"too few samples to judge ({cand.n} candidate, {base.n} baseline; need {min_samples})"
        else:
            from scipy.stats import (
                fisher_exact,
            )  # lazy: scipy is 70 MiB of RSS

            table = [[base.correct, base.n - base.correct], [cand.correct, cand.n - cand.correct]]
            _odds, p = fisher_exact(table, alternative="greater")
            p_value = float(p)
            regressed = drop >= min_drop and p_value < alpha
            more = drop >= min_drop and not regressed
            if regressed:
                reason = (
                    f"accuracy {base.accuracy:.2f} → {cand.accuracy:.2f} "
                    f"(−{drop * 100:.0f} points, p={p_value:.1g})"
                )
            elif drop >= min_drop:
                reason = f"down {drop * 100:.0f} points but not significant yet (p={p_value:.2g})"
            else:
                reason = f"within {min_drop * 100:.0f} points of the baseline"
        out.append(CategoryComparison(category, base, cand, drop, p_value, regressed, reason, more))
    out.sort(key=lambda c: (-c.drop, c.category))
    return out
