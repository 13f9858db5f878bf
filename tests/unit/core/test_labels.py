"""How an answer is compared with a ground-truth label (smoke tests and canary accuracy share it)."""

from __future__ import annotations

import pytest

from slipway.core.labels import answer_label, matches_label, normalize_label


@pytest.mark.parametrize(
    ("answer", "label", "matches"),
    [
        ("billing", "billing", True),
        (" Billing.\n", "billing", True),
        ("**billing** — refund requested", "Billing", True),
        ('{"label": "Shipping", "score": 0.9}', "shipping", True),
        ('  {"label": "shipping"}', "shipping", True),
        ('{"label": 3}', "shipping", False),
        ('{"label": "ship', "shipping", False),
        ("refund-request please", "refund-request", True),
        ("shipping", "billing", False),
        ("", "billing", False),
        ("billing", "", False),
    ],
)
def test_matches_label(answer: str, label: str, matches: bool) -> None:
    assert matches_label(answer, label) is matches


def test_answer_label_uses_an_already_parsed_answer() -> None:
    assert answer_label("ignored text", {"label": "Account"}) == "account"
    assert normalize_label("...") == ""
