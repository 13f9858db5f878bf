"""Scorers: strict to lenient, all in [0, 1]; correctness is the shared label rule."""

from __future__ import annotations

import pytest

from slipway.analysis.shadow.scorers import (
    agreement,
    agrees,
    correct,
    exact,
    normalized,
    similarity,
    token_f1,
)


@pytest.mark.parametrize(
    ("a", "b", "ex", "norm"),
    [
        ("billing", "billing", 1.0, 1.0),
        (" billing\n", "billing", 1.0, 1.0),
        ("Billing.", "billing", 0.0, 1.0),
        ("The refund, is issued!", "the refund is   issued", 0.0, 1.0),
        ("refund issued", "issued refund", 0.0, 0.0),
        ("", "", 1.0, 1.0),
    ],
)
def test_exact_and_normalized(a: str, b: str, ex: float, norm: float) -> None:
    assert exact(a, b) == ex
    assert normalized(a, b) == norm


@pytest.mark.parametrize(
    ("a", "b", "f1"),
    [
        ("the refund is issued", "the refund is issued", 1.0),
        ("refund issued", "issued refund", 1.0),
        ("the refund is issued", "the refund", 2 * (2 / 4 * 1.0) / (2 / 4 + 1.0)),
        ("billing", "shipping", 0.0),
        ("", "billing", 0.0),
        ("", "", 1.0),
    ],
)
def test_token_f1(a: str, b: str, f1: float) -> None:
    assert token_f1(a, b) == pytest.approx(f1)


def test_similarity_rewards_order() -> None:
    same_order = similarity("your refund was issued today", "your refund was issued yesterday")
    shuffled = similarity("your refund was issued today", "today issued was refund your")
    assert same_order == pytest.approx(0.8)
    assert shuffled < same_order
    assert similarity("a b", "a b") == 1.0
    assert similarity("", "a") == 0.0


def test_similarity_of_long_answers_is_a_share() -> None:
    a = " ".join(f"w{i % 997}" for i in range(6000))
    b = " ".join(f"w{(i * 7) % 991}" for i in range(6000))
    score = similarity(a, b)
    assert 0.0 < score < 1.0
    assert similarity(a, a) == 1.0


def test_agreement_uses_the_named_text_scorers() -> None:
    scores = agreement("Billing.", "billing", ["exact", "normalized", "judge"])
    assert scores == {"exact": 0.0, "normalized": 1.0}
    assert agrees(scores)
    assert agreement("a", "b", ["judge"]) == {"normalized": 0.0}
    assert not agrees(agreement("refund issued today", "nothing happened", ["token_f1", "similarity"]))


@pytest.mark.parametrize(
    ("text", "label", "expected"),
    [
        ("Billing.", "billing", True),
        ('{"label": "billing"}', "Billing", True),
        ("shipping", "billing", False),
        ("billing", None, None),
        ("billing", "  ", None),
    ],
)
def test_correctness_is_the_label_rule(text: str, label: str | None, expected: bool | None) -> None:
    assert correct(text, label) is expected
