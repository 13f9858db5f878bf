"""One pair judged: pass/fail per side, the classification, and a reason that names the failure."""

from __future__ import annotations

import pytest
from tests.unit.analysis.shadow.synth import pair

from slipway.analysis.shadow.compare import (
    UNCATEGORIZED,
    Outcome,
    compare_pair,
    compare_pairs,
    counts_by_category,
)
from slipway.analysis.shadow.paired import PairedCounts
from slipway.analysis.shadow.validators import FormatValidator
from slipway.core.shadow import Preference
from slipway.core.shadow_config import ShadowChecksConfig, ShadowConfig

JSON = ShadowChecksConfig(is_json=True)
PLAIN = ShadowChecksConfig()


@pytest.mark.parametrize(
    ("checks", "prod", "cand", "label", "cand_error", "outcome", "reason"),
    [
        (PLAIN, "billing", "billing", "billing", None, Outcome.BOTH_PASS, ""),
        (PLAIN, "billing", "shipping", "billing", None, Outcome.REGRESSION, "wrong label 'shipping'"),
        (
            PLAIN,
            "shipping",
            "billing",
            "billing",
            None,
            Outcome.IMPROVEMENT,
            "production: wrong label 'shipping'",
        ),
        (PLAIN, "shipping", "refund", "billing", None, Outcome.BOTH_FAIL, "candidate: wrong label 'refund'"),
        (PLAIN, "billing", "shipping", None, None, Outcome.BOTH_PASS, ""),
        (
            JSON,
            '{"label": "billing"}',
            "billing",
            None,
            None,
            Outcome.REGRESSION,
            "candidate: json: not JSON",
        ),
        (
            JSON,
            "billing",
            '{"label": "billing"}',
            None,
            None,
            Outcome.IMPROVEMENT,
            "production: json: not JSON",
        ),
        (PLAIN, "billing", "", None, "timeout", Outcome.REGRESSION, "candidate: error: timeout"),
        (PLAIN, "billing", "", "billing", "timeout", Outcome.REGRESSION, "candidate: error: timeout"),
        (PLAIN, "billing", "I'm sorry, but I can't help.", None, None, Outcome.REGRESSION, "refusal"),
    ],
)
def test_classification(
    checks: ShadowChecksConfig,
    prod: str,
    cand: str,
    label: str | None,
    cand_error: str | None,
    outcome: Outcome,
    reason: str,
) -> None:
    p = pair(
        "p1", prod, cand, label=label, candidate_error=cand_error, candidate_status=0 if cand_error else 200
    )
    result = compare_pair(p, FormatValidator(checks))
    assert result.outcome is outcome
    assert reason in result.reason
    if outcome is Outcome.BOTH_PASS:
        assert result.reason == ""


def test_a_failed_request_is_incorrect_only_where_there_is_a_label() -> None:
    validator = FormatValidator(PLAIN)
    labelled = compare_pair(pair("a", "billing", "", label="billing", candidate_error="x"), validator)
    unlabelled = compare_pair(pair("b", "billing", "", candidate_error="x"), validator)
    assert labelled.candidate.correct is False
    assert unlabelled.candidate.correct is None
    assert "wrong label" not in labelled.reason


def test_agreement_preference_category_and_expected_format() -> None:
    config = ShadowConfig(scorers=["exact", "token_f1", "judge"])
    pairs = [pair("p1", "Billing.", "billing", category=None), pair("p2", "- a\n- b", "nope", category="x")]
    first, second = compare_pairs(pairs, config, {"p2": Preference(-1.0, "production clearer")})
    assert first.category == UNCATEGORIZED
    assert first.agreement == {"exact": 0.0, "token_f1": 1.0}
    assert first.agree and first.preference is None
    assert not second.agree
    assert second.preference == Preference(-1.0, "production clearer")
    assert (first.expected_format, second.expected_format) == ("label (one word)", "list")


def test_counts_by_category() -> None:
    pairs = [
        pair("1", "billing", "billing", label="billing"),
        pair("2", "billing", "shipping", label="billing"),
        pair("3", "billing", "x", category="shipping", label="shipping"),
        pair("4", "", "ok", category=None),
    ]
    assert counts_by_category(pairs) == {
        "billing": PairedCounts(1, 1, 0, 0),
        "shipping": PairedCounts(0, 0, 0, 1),
        UNCATEGORIZED: PairedCounts(0, 0, 1, 0),
    }
