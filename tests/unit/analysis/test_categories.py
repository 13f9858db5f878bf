"""Per-category accuracy: the average hides what one category lost."""

from __future__ import annotations

import pytest

from slipway.analysis.categories import overall, score_by_category


def outcomes(category: str, n: int, correct: int) -> list[tuple[str, bool]]:
    return [(category, i < correct) for i in range(n)]


def test_each_category_is_scored_on_its_own_and_overall_hides_the_drop() -> None:
    before = score_by_category(outcomes("billing", 100, 97) + outcomes("shipping", 100, 95))
    after = score_by_category(outcomes("billing", 100, 70) + outcomes("shipping", 100, 100))
    assert after["billing"].accuracy == pytest.approx(0.70) and before["billing"].accuracy == pytest.approx(
        0.97
    )
    assert overall(after).accuracy == pytest.approx(0.85) and overall(before).accuracy == pytest.approx(0.96)


def test_no_answers_scores_zero_rather_than_dividing_by_it() -> None:
    assert overall({}).accuracy == 0.0 and overall({}).n == 0
