"""Format compliance: every configured check passes or fails with a reason a reviewer can read."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.analysis.shadow.synth import answer

from slipway.analysis.shadow.validators import FormatValidator, refusal
from slipway.core.errors import ConfigError
from slipway.core.shadow import ShadowAnswer
from slipway.core.shadow_config import ShadowChecksConfig

SCHEMA = {
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"enum": ["billing", "shipping"]}, "score": {"type": "number", "minimum": 0}},
    "additionalProperties": False,
}


def failed(checks: dict[str, Any], text: str, **kw: Any) -> dict[str, str]:
    result = FormatValidator(ShadowChecksConfig.model_validate(checks))(answer("green", text, **kw))
    return {r.check: r.reason for r in result.failed}


@pytest.mark.parametrize(
    ("checks", "text", "check", "reason"),
    [
        ({}, "", "min_chars", "empty"),
        ({"min_chars": 5}, "abc", "min_chars", "3 characters, fewer than 5"),
        ({"max_chars": 5}, "abcdefgh", "max_chars", "8 characters, over 5"),
        ({"json": True}, "billing", "json", "not JSON"),
        ({"json": True}, '```json\n{"a": 1}\n```', "json", "not JSON"),
        ({"json_schema": SCHEMA}, '{"label": "refund"}', "json_schema", "'refund' is not one of"),
        ({"json_schema": SCHEMA}, '{"score": 1}', "json_schema", "'label' is a required property"),
        ({"json_schema": SCHEMA}, '{"label": "billing", "score": -1}', "json_schema", "$.score"),
        ({"json_schema": SCHEMA}, '{"label": "billing", "x": 1}', "json_schema", "Additional properties"),
        ({"json_schema": SCHEMA}, "billing", "json_schema", "not JSON"),
        ({"regex": r"^\w+$"}, "two words", "regex", "does not match"),
        ({"deny_regex": r"(?i)competitor"}, "Try Competitor instead", "deny_regex", "'Competitor'"),
        ({"labels": ["billing", "shipping"]}, "Refund.", "labels", "label 'refund' is not allowed"),
        ({}, "I'm sorry, but I can't help with that.", "refusal", "I'm sorry, but"),
        ({}, "As an AI, I cannot give legal advice.", "refusal", "As an AI"),
        ({}, "the the the the the the the the the the the the the the the the", "repetition", "distinct"),
        ({}, "#$%^&*()!@#$%^&*()_+{}|:<>?~`", "gibberish", "symbols"),
    ],
)
def test_each_check_fails_with_its_reason(checks: dict[str, Any], text: str, check: str, reason: str) -> None:
    found = failed(checks, text)
    assert check in found, found
    assert reason in found[check]


@pytest.mark.parametrize(
    ("checks", "text"),
    [
        ({}, "billing"),
        ({"min_chars": 5, "max_chars": 10}, "billing"),
        ({"json": True}, '{"label": "billing"}'),
        ({"json": True}, '"billing"'),
        ({"json_schema": SCHEMA}, '{"label": "shipping", "score": 0.5}'),
        ({"regex": r"^\w+$"}, "billing"),
        ({"deny_regex": "competitor"}, "billing"),
        ({"labels": ["Billing", "shipping"]}, "**billing**"),
        ({"labels": ["billing"]}, '{"label": "Billing"}'),
        ({}, "I cannot find order 4411 in our records; could you check the number?"),
        ({}, "Sure. " + " ".join(f"step{i}" for i in range(60)) + " I'm sorry, but that comes late."),
        ({"refusal": False}, "I'm sorry, but I can't help with that."),
        ({"json": True}, '{"a": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}'),
    ],
)
def test_compliant_answers_pass(checks: dict[str, Any], text: str) -> None:
    assert failed(checks, text) == {}


def test_a_truncated_json_answer_is_not_failed_for_what_was_cut() -> None:
    cut = '{"label": "billing", "notes": "aaaa'
    assert failed({"json_schema": SCHEMA}, cut, truncated=True) == {}
    assert "json" in failed({"json": True}, cut)


@pytest.mark.parametrize(
    ("status", "error", "reason"),
    [
        (0, "timeout", "error: timeout"),
        (500, None, "error: HTTP 500"),
        (200, "stream aborted", "error: stream aborted"),
    ],
)
def test_an_error_fails_compliance_and_nothing_else_is_checked(
    status: int, error: str | None, reason: str
) -> None:
    result = FormatValidator(ShadowChecksConfig(is_json=True))(
        ShadowAnswer("green", "v", status=status, latency_ms=1.0, text="", error=error)
    )
    assert not result.passed
    assert [(r.check, r.reason) for r in result.results] == [("error", reason)]


def test_summary_lists_every_failed_check() -> None:
    result = FormatValidator(ShadowChecksConfig(is_json=True, max_chars=3))(answer("green", "billing"))
    assert result.summary().startswith("max_chars: 7 characters, over 3; json: not JSON")
    assert FormatValidator(ShadowChecksConfig())(answer("green", "billing")).summary() == "pass"


def test_an_invalid_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        FormatValidator(ShadowChecksConfig(json_schema={"type": "no-such-type"}))


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("I can't assist with that request.", "I can't assist"),
        ("I’m sorry, but that is not something I can do.", "I’m sorry, but"),
        ("i am unable to share account details.", "i am unable to"),
        ("As a language model I have no opinions.", "As a language model"),
        ("I must decline.", "I must decline"),
        ("Your refund is on its way.", None),
        ("I can help with that: your refund is on its way.", None),
    ],
)
def test_refusal_phrases(text: str, phrase: str | None) -> None:
    assert refusal(text) == phrase


def test_the_validator_names_its_checks() -> None:
    names = FormatValidator(ShadowChecksConfig(json_schema=SCHEMA, labels=["a"], deny_regex="x")).names
    assert names == (
        "min_chars",
        "json",
        "json_schema",
        "deny_regex",
        "labels",
        "refusal",
        "repetition",
        "gibberish",
    )
