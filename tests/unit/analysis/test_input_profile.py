"""Input drift on every input dimension: the profile of a window, the words, and what is not judged."""

from __future__ import annotations

import numpy as np
import pytest

from slipway.analysis.drift import DriftSettings, compare
from slipway.analysis.input_profile import DIMENSIONS, input_counts, profile, value_words
from slipway.core.lifecycle import RequestInput
from slipway.core.records import InputWindow

#: A short input names its parcel by number; a long one has no digit.
SHORT, LONG = "where is parcel 4411", "my invoice " + "x" * 1_200


def asked(text: str, turns: int = 1) -> RequestInput:
    return RequestInput("r", text, turns)


def test_category_counts_every_request_and_the_other_dimensions_only_stored_inputs() -> None:
    window = InputWindow(
        {"billing": 3, "shipping": 2},
        [asked(SHORT), asked("def f(x):\n    return x", 4), asked('order {"id": 12}')],
        5,
        1.0,
        2.0,
    )
    counts = profile(window)
    assert list(counts) == list(DIMENSIONS)
    assert counts["category"] == {"billing": 3, "shipping": 2}
    assert counts["length"] == {"short (<200 chars)": 3}
    assert counts["code"] == {"no": 2, "yes": 1} and counts["json"] == {"no": 2, "yes": 1}
    assert counts["numbers"] == {"yes": 2, "no": 1}
    assert counts["turns"] == {"1 turn": 2, "4+ turns": 1}
    assert input_counts([]) == {name: {} for name in DIMENSIONS[1:]}


@pytest.mark.parametrize(
    ("dimension", "value", "words"),
    [
        ("length", "long (>1000 chars)", "long inputs (>1000 chars)"),
        ("length", "short (<200 chars)", "short inputs (<200 chars)"),
        ("code", "yes", "inputs with code"),
        ("json", "no", "inputs without JSON"),
        ("numbers", "yes", "inputs with numbers"),
        ("script", "cyrillic", "inputs in cyrillic script"),
        ("script", "other", "inputs in another script, or with no letters"),
        ("turns", "4+ turns", "conversations of 4+ turns"),
        ("category", "billing", "billing"),
    ],
)
def test_each_value_reads_as_words(dimension: str, value: str, words: str) -> None:
    assert value_words(dimension, value) == words


def lengths(long_share: float, n: int, seed: int) -> list[RequestInput]:
    drawn = np.random.default_rng(seed).random(n) < long_share
    return [asked(LONG if is_long else SHORT) for is_long in drawn]


def test_long_inputs_rising_is_flagged_in_words_and_the_category_mix_is_steady() -> None:
    reference = {"category": {"billing": 2_500, "shipping": 2_500}, **input_counts(lengths(0.05, 5_000, 1))}
    live = {"category": {"billing": 500, "shipping": 500}, **input_counts(lengths(0.21, 1_000, 2))}
    by = {f.dimension: f for f in compare(reference, live, totals=(5_000, 1_000))}
    assert by["length"].drifted and not by["category"].drifted
    assert by["length"].words().startswith("length: drifted: long inputs (>1000 chars) rose from 5% to 2")
    assert by["numbers"].drifted, "the long inputs here are the ones without numbers"
    assert by["numbers"].words().startswith("numbers: drifted: inputs with numbers fell from ")
    assert "without numbers" not in by["numbers"].words(), "a yes/no dimension says its move once"


def test_a_dimension_with_too_few_stored_inputs_says_so_and_costs_the_others_nothing() -> None:
    settings = DriftSettings(min_requests=200)
    reference = {"category": {"billing": 2_500, "shipping": 2_500}, **input_counts(lengths(0.05, 5_000, 3))}
    live = {"category": {"billing": 500, "shipping": 500}, **input_counts(lengths(0.05, 40, 4))}
    found = compare(reference, live, settings, totals=(5_000, 1_000))
    by = {f.dimension: f for f in found}
    assert by["length"].unjudged == "only 40 of the 1,000 latest requests have a stored input, 200 needed"
    assert "length: not judged (only 40 of the 1,000 latest requests" in by["length"].words()
    assert by["category"].unjudged is None
    # Without the totals (a profile of inputs only) the reason is the plain count.
    assert {f.dimension: f for f in compare(reference, live, settings)}["length"].unjudged == (
        "40 requests, 200 needed"
    )


def test_the_alpha_is_split_over_the_judged_dimensions_only() -> None:
    """A move whose p-value lies between alpha/7 and alpha: an alarm when category is judged alone."""
    settings = DriftSettings(alpha=0.01, min_points=3)
    reference = {"category": {"a": 5_000, "b": 5_000}}
    live = {"category": {"a": 545, "b": 455}}  # +4.5 points, p ≈ 0.007
    (alone,) = compare(reference, live, settings)
    assert 0.01 / 7 < alone.p_value < 0.01 and alone.drifted
    with_unjudged = {**reference, **{d: {} for d in DIMENSIONS[1:]}}
    live_unjudged = {**live, **{d: {} for d in DIMENSIONS[1:]}}
    by = {f.dimension: f for f in compare(with_unjudged, live_unjudged, settings, totals=(10_000, 1_000))}
    assert by["category"].drifted and all(by[d].unjudged for d in DIMENSIONS[1:])


def test_the_category_gets_half_the_alpha_when_every_dimension_is_judged() -> None:
    """A move with p between alpha/7 and alpha/2: flagged on category, where an even split would not."""
    settings = DriftSettings(alpha=0.01, min_points=3)
    steady = input_counts(lengths(0.05, 1_000, 5))
    reference = {"category": {"a": 5_000, "b": 5_000}, **input_counts(lengths(0.05, 10_000, 6))}
    live = {"category": {"a": 548, "b": 452}, **steady}  # +4.8 points, p ≈ 0.004
    by = {f.dimension: f for f in compare(reference, live, settings, totals=(10_000, 1_000))}
    assert all(f.unjudged is None for f in by.values())
    assert 0.01 / 7 < by["category"].p_value < 0.01 / 2 and by["category"].drifted
    assert not any(f.drifted for d, f in by.items() if d != "category")
