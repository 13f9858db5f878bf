"""Output checks: what counts as an invalid answer (DF1: unsafe, toxic or nonsensical), as a table."""

from __future__ import annotations

import pytest

from slipway.analysis.output_checks import (
    DEFAULT_CHECKS,
    DenyList,
    Gibberish,
    JsonFormat,
    NonEmpty,
    OutputCheck,
    OutputChecksConfig,
    Repetition,
    build_checks,
    run_checks,
    schema_problem,
)

LABEL_SCHEMA = {
    "type": "object",
    "required": ["label"],
    "properties": {"label": {"type": "string", "enum": ["billing", "shipping"]}, "score": {"type": "number"}},
}


@pytest.mark.parametrize(
    ("check", "head", "truncated", "problem"),
    [
        (NonEmpty(), "billing", False, None),
        (NonEmpty(), "  \n", False, "empty"),
        (
            DenyList(("as an ai language model", r"\bkill\b")),
            "As an AI language model, I can't",
            False,
            "denied",
        ),
        (DenyList(("as an ai language model",)), "billing", False, None),
        (DenyList(()), "anything", False, None),
        (
            Repetition(),
            "the the the the the the the the the the the the the the the the the",
            False,
            "distinct",
        ),
        (Repetition(), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False, "repeated"),
        (Repetition(), "----------------------------------", False, None),
        (Repetition(), "Your refund was issued today; it takes three to five days to arrive.", False, None),
        (Gibberish(), "bill\ufffd\ufffd\ufffding", False, "replacement"),
        (Gibberish(), "#$%^&*()!@#$%^&*()_+{}|:<>?~`", False, "symbols"),
        (Gibberish(), "Refund issued: order #4411, amount $12.50.", False, None),
        (JsonFormat(), '{"label": "billing"}', False, None),
        (JsonFormat(), "billing", False, "not JSON"),
        (JsonFormat(), '{"label": "bill', True, None),
        (JsonFormat(), '{"label": "bill', False, "not JSON"),
        (JsonFormat(), "Sure! {", True, "not JSON"),
        (JsonFormat(LABEL_SCHEMA), '{"label": "billing", "score": 0.9}', False, None),
        (JsonFormat(LABEL_SCHEMA), '{"label": "refunds"}', False, "expected one of"),
        (JsonFormat(LABEL_SCHEMA), '{"score": 0.9}', False, "missing"),
        (JsonFormat(LABEL_SCHEMA), '{"label": "billing", "score": "high"}', False, "expected number"),
    ],
)
def test_checks(check: OutputCheck, head: str, truncated: bool, problem: str | None) -> None:
    found = check(head, truncated=truncated)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


@pytest.mark.parametrize(
    ("value", "schema", "problem"),
    [
        ([1, 2], {"type": "array", "items": {"type": "integer"}}, None),
        ([1, "x"], {"type": "array", "items": {"type": "integer"}}, "$[1] is str"),
        (True, {"type": "integer"}, "expected integer"),
        ("abcdef", {"type": "string", "maxLength": 3}, "longer than 3"),
        (None, {"type": ["string", "null"]}, None),
        ({"a": {"b": 1}}, {"properties": {"a": {"required": ["c"]}}}, "$.a.c is missing"),
    ],
)
def test_schema_subset(value: object, schema: dict[str, object], problem: str | None) -> None:
    found = schema_problem(value, schema)
    assert found == problem if problem is None else (found is not None and problem in found)


def test_run_checks_counts_answers_not_failures() -> None:
    answers = [("billing", False), ("", False), ("\ufffd\ufffd\ufffd", False), ("shipping", False)]
    tally = run_checks(answers, DEFAULT_CHECKS)
    assert (tally.checked, tally.invalid) == (4, 2)
    assert tally.by_check == {"empty": 1, "gibberish": 1}
    assert [why.split(":")[0] for _, why in tally.examples] == ["empty", "gibberish"]


def test_build_checks_from_config() -> None:
    assert [c.name for c in build_checks()] == ["empty", "repetition", "gibberish"]
    config = OutputChecksConfig(deny=("forbidden",), json_format=LABEL_SCHEMA, gibberish=False)
    assert [c.name for c in build_checks(config)] == ["empty", "deny-list", "repetition", "json"]
    with pytest.raises(ValueError, match="does not compile"):
        DenyList(("(unclosed",))
