"""Failing answers become regression cases: rebuilt, redacted, deduplicated, each with its origin."""

from __future__ import annotations

import json
from typing import Any

import pytest

from slipway.core.errors import ValidationError
from slipway.core.lifecycle import RequestInput
from slipway.evals.regressions import (
    MAX_PATTERNS,
    FailingAnswer,
    build,
    compile_redactions,
    normalised,
    to_jsonl,
)
from slipway.evals.suite import MAX_CASE_BYTES, ORIGIN_MAX, parse_suite_case


def failing(
    rid: str, stored: RequestInput | None, *, answered: str = "shipping", label: str = "billing"
) -> FailingAnswer:
    return FailingAnswer("dep-1", rid, "v2.2", "billing", answered, label, stored)


def chat(text: str) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}]}


@pytest.mark.parametrize(
    ("stored", "request_fields", "training"),
    [
        (
            RequestInput("r", "refund", 1, chat("refund")),
            {"messages": [{"role": "user", "content": "refund"}]},
            {
                "messages": [
                    {"role": "user", "content": "refund"},
                    {"role": "assistant", "content": "billing"},
                ]
            },
        ),
        (  # content given as parts
            RequestInput(
                "r",
                "refund",
                1,
                {"messages": [{"role": "user", "content": [{"type": "text", "text": "refund"}]}]},
            ),
            {"messages": [{"role": "user", "content": "refund"}]},
            {
                "messages": [
                    {"role": "user", "content": "refund"},
                    {"role": "assistant", "content": "billing"},
                ]
            },
        ),
        (  # a raw completion prompt
            RequestInput("r", "ticket: refund", 1, {"prompt": "ticket: refund"}),
            {"completion": "ticket: refund"},
            {"prompt": "ticket: refund", "completion": "billing"},
        ),
        (  # Ollama's generate, with a system prompt
            RequestInput("r", "refund", 1, {"prompt": "refund", "system": "classify"}),
            {"prompt": "refund", "system": "classify"},
            {
                "messages": [
                    {"role": "system", "content": "classify"},
                    {"role": "user", "content": "refund"},
                    {"role": "assistant", "content": "billing"},
                ]
            },
        ),
        (  # no body kept (too large): one turn is rebuilt from the input text
            RequestInput("r", "refund please", 1, None),
            {"prompt": "refund please"},
            {
                "messages": [
                    {"role": "user", "content": "refund please"},
                    {"role": "assistant", "content": "billing"},
                ]
            },
        ),
    ],
)
def test_a_case_is_rebuilt_from_the_stored_request_and_holds_to_the_suite_format(
    stored: RequestInput, request_fields: dict[str, Any], training: dict[str, Any]
) -> None:
    batch = build([failing("r1", stored)])
    (case,) = batch.cases
    assert {k: case[k] for k in request_fields} == request_fields
    assert (
        case["expect"] == {"label": "billing"} and case["must_pass"] is True and case["category"] == "billing"
    )
    assert (
        case["origin"]
        == "deployment dep-1, request r1: v2.2 answered 'shipping', the right label is 'billing'"
    )
    assert case["id"].startswith("regression-")
    parsed = parse_suite_case(case, "test", 1)
    assert parsed.must_pass and parsed.origin == case["origin"] and parsed.id == case["id"]
    assert batch.training == (training,)


@pytest.mark.parametrize(
    ("stored", "reason"),
    [
        (None, "without a stored input"),
        (
            RequestInput("r", "a\nb\nc", 3, None),
            "conversations of several turns without a stored request body",
        ),
        (RequestInput("r", "  ", 1, None), "with an empty input"),
    ],
)
def test_requests_that_cannot_be_rebuilt_are_skipped_with_a_count_and_the_reason(
    stored: RequestInput | None, reason: str
) -> None:
    batch = build([failing("r1", stored), failing("r2", RequestInput("r2", "refund", 1, None))])
    assert len(batch.cases) == 1 and batch.skipped == {reason: 1}
    assert batch.summary() == f"1 new case (skipped: 1 {reason})"


def test_personal_data_is_redacted_in_the_input_and_the_quoted_answer() -> None:
    patterns = compile_redactions([r"[\w.+-]+@[\w-]+\.\w+", r"\b\d{16}\b"])
    stored = RequestInput("r", "x", 1, chat("card 4111111111111111, mail ann@example.com"))
    (case,) = build([failing("r1", stored, answered="ann@example.com: shipping")], redactions=patterns).cases
    assert case["messages"][0]["content"] == "card [redacted], mail [redacted]"
    assert "ann@example.com" not in json.dumps(case) and "'[redacted]: shipping'" in case["origin"]


def test_inputs_that_are_the_same_once_normalised_or_redacted_are_one_case() -> None:
    patterns = compile_redactions([r"ann\d+@example\.com"])
    items = [
        failing("r1", RequestInput("r1", "", 1, chat("Refund  me, ann1@example.com"))),
        failing("r2", RequestInput("r2", "", 1, chat("refund me, ann2@example.com "))),
        failing("r3", RequestInput("r3", "", 1, chat("where is my parcel"))),
    ]
    batch = build(items, redactions=patterns)
    assert [c["messages"][0]["content"] for c in batch.cases] == [
        "Refund  me, [redacted]",
        "where is my parcel",
    ]
    assert batch.skipped == {"duplicates of another failing input": 1}
    assert normalised(" Refund\n ME ") == "refund me"


def test_cases_already_in_the_suite_are_not_added_again() -> None:
    existing: list[dict[str, Any]] = [
        {"id": "b1", "prompt": "REFUND me", "expect": {"label": "billing"}},
        {
            "id": "s1",
            "messages": [{"role": "user", "content": "where is my parcel"}],
            "expect": {"label": "shipping"},
        },
    ]
    items = [
        failing("r1", RequestInput("r1", "refund me", 1, None)),
        failing("r2", RequestInput("r2", "", 1, chat("where is my parcel"))),
        failing("r3", RequestInput("r3", "", 1, chat("new ticket"))),
    ]
    batch = build(items, existing=existing)
    assert [c["messages"][0]["content"] for c in batch.cases] == ["new ticket"]
    assert batch.skipped == {"already in the suite": 2}


@pytest.mark.parametrize(
    ("patterns", "message"),
    [
        (["("], "redaction pattern #1 '(' is not a valid regular expression"),
        (["ok", ""], "redaction pattern #2 has 0 characters; it must have 1 to 500"),
        (["x" * 501], "redaction pattern #1 has 501 characters; it must have 1 to 500"),
        (["a"] * (MAX_PATTERNS + 1), f"{MAX_PATTERNS + 1} redaction patterns given, at most {MAX_PATTERNS}"),
    ],
)
def test_a_bad_redaction_pattern_is_refused_naming_it_and_the_fix(patterns: list[str], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        compile_redactions(patterns)
    assert caught.value.message.startswith(message)


def test_training_rows_are_one_json_object_per_line() -> None:
    batch = build([failing("r1", RequestInput("r1", "refund", 1, None))])
    lines = to_jsonl(batch.training).splitlines()
    assert [json.loads(line) for line in lines] == list(batch.training)


def test_a_case_the_suite_format_refuses_is_skipped_with_the_reason_and_origins_stay_one_bounded_line() -> (
    None
):
    huge = RequestInput("r1", "", 1, chat("x" * (MAX_CASE_BYTES + 1)))
    odd = failing("r2", RequestInput("r2", "refund", 1, None), answered="a\nb" * 200, label="billing")
    batch = build([failing("r1", huge), odd])
    (case,) = batch.cases
    assert len(case["origin"]) <= ORIGIN_MAX and case["origin"].isprintable()
    (reason,) = batch.skipped
    assert reason.startswith("not a valid suite case (case is ") and batch.skipped[reason] == 1
