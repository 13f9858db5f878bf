"""Sample-size adequacy: more pairs for smaller drops and noisier categories; cheap from pairs or counts."""

from __future__ import annotations

import pytest
from tests.unit.analysis.shadow.synth import make_pairs

from slipway.analysis.shadow.adequacy import adequacy, adequacy_for
from slipway.analysis.shadow.compare import counts_by_category
from slipway.analysis.shadow.paired import PairedCounts
from slipway.core.shadow_config import ShadowDecisionConfig

QUIET = PairedCounts(both_pass=480, regressions=5, improvements=5, both_fail=10)
NOISY = PairedCounts(both_pass=300, regressions=100, improvements=100, both_fail=0)


def needed(counts: PairedCounts, **decision: float) -> int:
    return adequacy({"billing": counts}, ShadowDecisionConfig.model_validate(decision))[0].needed


def test_smaller_drops_need_more_pairs() -> None:
    assert needed(QUIET, min_effect=0.02) > needed(QUIET, min_effect=0.05) > needed(QUIET, min_effect=0.10)


def test_noisier_categories_need_more_pairs() -> None:
    assert needed(NOISY) > 3 * needed(QUIET)


def test_more_confidence_and_more_categories_need_more_pairs() -> None:
    decision = ShadowDecisionConfig()
    one = adequacy({"billing": QUIET}, decision)[0].needed
    four = adequacy({c: QUIET for c in ("billing", "a", "b", "c")}, decision)[0].needed
    assert four > one
    assert needed(QUIET, confidence=0.99) > needed(QUIET, confidence=0.95)


def test_numbers_are_sane() -> None:
    quiet = needed(QUIET)
    # identical-looking answers: a few hundred pairs; never below the group minimum
    assert 100 < quiet < 1000
    assert needed(PairedCounts(), min_pairs_per_group=30) >= 30
    assert needed(PairedCounts(both_pass=3), min_pairs_per_group=5000) == 5000


def test_rows_say_how_many_more_and_sort_the_neediest_first() -> None:
    rows = adequacy(
        {"billing": PairedCounts(both_pass=20), "shipping": PairedCounts(both_pass=5000)},
        ShadowDecisionConfig(),
    )
    first, second = rows
    assert first.category == "billing" and not first.met
    assert first.more == first.needed - 20
    assert (
        first.text == f"{first.more} more pairs needed to detect a 5 % drop in billing (20 of {first.needed})"
    )
    assert second.met and second.more == 0
    assert second.text.startswith("enough pairs to detect a 5 % drop in shipping")
    assert first.to_dict()["more"] == first.more


def test_from_pairs_equals_from_counts() -> None:
    pairs = make_pairs(600, 9)
    decision = ShadowDecisionConfig()
    assert adequacy_for(pairs, decision) == adequacy_for(counts_by_category(pairs), decision)
    assert {a.category for a in adequacy_for(pairs, decision)} == {
        "billing",
        "shipping",
        "account",
        "technical",
    }


@pytest.mark.parametrize("n", [0, 10])
def test_tiny_categories_still_get_a_number(n: int) -> None:
    row = adequacy({"rare": PairedCounts(both_pass=n)}, ShadowDecisionConfig())[0]
    assert row.needed > n and row.more > 0
