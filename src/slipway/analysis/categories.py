"""Per-category accuracy: the table that shows the regression an average hides.

The classic failure: a retrain (v2.2) better on average and 30 % worse on
billing. The demo scores each phase's answers per category (the ground-truth
label from feedback) to show what slipway's checks (`analysis.decide`) saw.
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
