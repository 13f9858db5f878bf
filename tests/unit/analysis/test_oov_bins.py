"""Out-of-vocabulary rates as drift counts and says them."""

from __future__ import annotations

import pytest

from slipway.analysis.drift import DriftSettings, compare
from slipway.analysis.input_profile import OOV, OOV_BINS, oov_bin, oov_counts, value_words


@pytest.mark.parametrize(
    ("rate", "value"),
    [
        (0.0, "none"),
        (0.01, "under 5%"),
        (0.05, "5–20%"),
        (0.2, "5–20%"),
        (0.21, "over 20%"),
        (1.0, "over 20%"),
    ],
)
def test_each_rate_falls_in_one_bin(rate: float, value: str) -> None:
    assert oov_bin(rate) == value


def test_counts_have_every_bin() -> None:
    assert oov_counts([0.0, 0.0, 0.5]) == {"none": 2, "under 5%": 0, "5–20%": 0, "over 20%": 1}
    assert list(oov_counts([])) == list(OOV_BINS)


def test_a_move_reads_as_a_sentence() -> None:
    assert value_words(OOV, "none") == "inputs with no unknown tokens"
    assert value_words(OOV, "5–20%") == "inputs with 5–20% unknown tokens"


def test_the_dimension_is_judged_like_the_others() -> None:
    reference = {OOV: oov_counts([0.0] * 270 + [0.1] * 30)}
    shifted = {OOV: oov_counts([0.0] * 150 + [0.1] * 150)}
    alike = {OOV: oov_counts([0.0] * 268 + [0.1] * 32)}
    (moved,) = compare(reference, shifted, DriftSettings())
    assert moved.drifted and "inputs with 5–20% unknown tokens rose from 10% to 50%" in moved.words()
    (steady,) = compare(reference, alike, DriftSettings())
    assert not steady.drifted and steady.unjudged is None
