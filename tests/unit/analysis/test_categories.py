"""Per-category comparison: a real drop is caught, noise and thin data are not."""

from __future__ import annotations

import pytest

from slipway.analysis.categories import compare_categories, overall, score_by_category


def outcomes(category: str, n: int, correct: int) -> list[tuple[str, bool]]:
    return [(category, i < correct) for i in range(n)]


BASE = score_by_category(outcomes("billing", 100, 97) + outcomes("shipping", 100, 95))


@pytest.mark.parametrize(
    ("billing", "regressed", "more", "words"),
    [
        ((100, 70), True, False, "0.97 → 0.70"),
        ((100, 94), False, False, "within 5 points"),
        ((30, 26), False, True, "not significant"),
        ((10, 2), False, True, "too few samples"),
    ],
)
def test_a_category_regresses_only_when_the_drop_is_large_and_significant(
    billing: tuple[int, int], regressed: bool, more: bool, words: str
) -> None:
    cand = score_by_category(outcomes("billing", *billing) + outcomes("shipping", 100, 96))
    result = {c.category: c for c in compare_categories(BASE, cand)}
    assert result["billing"].regressed is regressed
    assert result["billing"].needs_more_data is more
    assert words in result["billing"].reason
    assert result["shipping"].needs_more_data is False
    assert result["shipping"].regressed is False


def test_worst_drop_first_and_overall_hides_it() -> None:
    cand = score_by_category(outcomes("billing", 100, 70) + outcomes("shipping", 100, 100))
    first = compare_categories(BASE, cand)[0]
    assert first.category == "billing" and first.drop == pytest.approx(0.27)
    assert overall(cand).accuracy == pytest.approx(0.85) and overall(BASE).accuracy == pytest.approx(0.96)
