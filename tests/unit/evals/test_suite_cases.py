"""Suite files: smoke-case fields plus origin and must_pass, every error naming its line and field."""

from __future__ import annotations

import json

import pytest

from slipway.core.errors import ConfigError
from slipway.evals.suite import MAX_CASES, SuiteRule, parse_suite_jsonl, stored_cases

CASE = {"id": "b-1", "prompt": "refund", "expect": {"label": "billing"}, "category": "billing"}


def test_origin_and_must_pass_are_read_and_the_rest_is_a_smoke_case() -> None:
    text = json.dumps({**CASE, "origin": "rollback of v2.2 (dep-7)", "must_pass": True}) + "\n# note\n"

    [case] = parse_suite_jsonl(text, "s.jsonl")

    assert (case.id, case.category, case.origin, case.must_pass) == (
        "b-1",
        "billing",
        "rollback of v2.2 (dep-7)",
        True,
    )
    assert case.case.expect.label == "billing"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"must_pass": "yes"}, "must be true or false"),
        ({"origin": "a\nb"}, "origin must be one printable line"),
        ({"origin": "x" * 501}, "at most 500 characters"),
        ({"weight": 2}, "unknown field 'weight'"),
        ({"prompt": "x" * 70_000}, "at most 65,536"),
    ],
)
def test_a_bad_case_names_the_line_and_the_problem(extra: dict[str, object], message: str) -> None:
    text = json.dumps(CASE | {"id": "ok"}) + "\n" + json.dumps({**CASE, **extra}) + "\n"

    with pytest.raises(ConfigError) as caught:
        parse_suite_jsonl(text, "s.jsonl")

    assert message in str(caught.value) and caught.value.line == 2


def test_the_unknown_field_hint_lists_the_suite_fields_too() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_suite_jsonl(json.dumps({**CASE, "weight": 1}), "s.jsonl")
    assert "must_pass" in str(caught.value) and "origin" in str(caught.value)


def test_duplicate_ids_too_many_cases_and_no_cases_are_refused() -> None:
    with pytest.raises(ConfigError, match="already used on line 1"):
        parse_suite_jsonl(json.dumps(CASE) + "\n" + json.dumps(CASE), "s.jsonl")
    with pytest.raises(ConfigError, match="no cases found"):
        parse_suite_jsonl("# nothing\n", "s.jsonl")
    many = [CASE | {"id": str(i)} for i in range(MAX_CASES + 1)]
    with pytest.raises(ConfigError, match="more than 10,000 cases"):
        stored_cases(many, "suite s")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_drop_points": 101}, "between 0 and 100"),
        ({"alpha": 0}, "between"),
        ({"alpha": True}, "must be a number"),
        ({"min_accuracy": float("nan")}, "must be a number"),
        ({"rounds": 3}, "unknown rule field 'rounds'"),
    ],
)
def test_a_bad_rule_is_refused(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SuiteRule.from_dict(raw)


def test_a_rule_round_trips_with_its_defaults() -> None:
    rule = SuiteRule.from_dict({"max_drop_points": 10})
    assert SuiteRule.from_dict(rule.to_dict()) == rule == SuiteRule(10.0, 0.05, None)
