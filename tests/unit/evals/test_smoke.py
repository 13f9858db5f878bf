"""Smoke cases for blue-green deploys (BG2): parsing, judging answers, and the report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from slipway.core.errors import ConfigError
from slipway.core.labels import normalize_label
from slipway.evals.smoke import (
    DEFAULT_MAX_TOKENS,
    CaseResult,
    SmokeCase,
    check_output,
    parse_smoke_cases,
    summarize,
)

EXAMPLE = Path(__file__).parents[3] / "examples" / "smoke" / "support-smoke.jsonl"


def _case(expect: dict[str, Any] | None = None, **fields: Any) -> SmokeCase:
    obj: dict[str, Any] = {"id": "c1", "prompt": "where is my parcel?", **fields}
    if expect is not None:
        obj["expect"] = expect
    (case,) = parse_smoke_cases(json.dumps(obj), "cases.jsonl")
    return case


def _results(passed: int, failed: int = 0, category: str | None = None) -> list[CaseResult]:
    ok = [CaseResult(f"ok-{i}", True, category=category) for i in range(passed)]
    bad = [
        CaseResult(f"bad-{i}", False, ("expected label 'a', got 'b'",), "b", category) for i in range(failed)
    ]
    return ok + bad


# ---------------------------------------------------------------- parsing


def test_parse_prompt_and_messages_cases() -> None:
    text = "\n".join(
        [
            "# support smoke cases",
            '{"id": "billing-1", "prompt": "charged twice", "expect": {"label": "Billing", "max_chars": 20}}',
            "",
            '{"id": "m-1", "messages": [{"role": "system", "content": "s"},'
            ' {"role": "user", "content": "u"}],'
            ' "expect": {"json": true, "regex": "^\\\\{", "non_empty": true}, "category": "format"}',
            '{"prompt": "no id", "system": "answer in one word", "max_tokens": 5}',
        ]
    )
    first, second, third = parse_smoke_cases(text, "support.jsonl")
    assert (first.id, first.prompt, first.expect.label, first.expect.max_chars) == (
        "billing-1",
        "charged twice",
        "billing",
        20,
    )
    assert (first.source, first.line) == ("support.jsonl", 2)
    assert second.messages == ({"role": "system", "content": "s"}, {"role": "user", "content": "u"})
    assert second.expect.json and second.expect.regex is not None and second.category == "format"
    assert (third.id, third.system, third.max_tokens) == ("line-5", "answer in one word", 5)
    assert third.expect.non_empty and not third.expect.json and third.expect.label is None


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        ('{"id": "a", "prompt": "x"}\n{"id": "b", "prompt": }', 2, None, "not valid JSON"),
        ('["a list"]', 1, None, "must be a JSON object"),
        ('{"id": "a"}', 1, "prompt", "exactly one of prompt, messages or completion"),
        (
            '{"id": "a", "prompt": "x", "messages": [{"role": "user", "content": "x"}]}',
            1,
            "prompt",
            "exactly one",
        ),
        ('{"id": "a", "prompt": "  "}', 1, "prompt", "non-empty string"),
        ('{"id": "a", "promt": "x"}', 1, "promt", "unknown field 'promt'"),
        ('{"id": "", "prompt": "x"}', 1, "id", "non-empty string"),
        ('{"id": "a", "prompt": "x"}\n\n{"id": "a", "prompt": "y"}', 3, "id", "already used on line 1"),
        (
            '{"id": "a", "prompt": "x", "expect": {"lable": "billing"}}',
            1,
            "expect.lable",
            "unknown expectation",
        ),
        ('{"id": "a", "prompt": "x", "expect": {"regex": "(billing"}}', 1, "expect.regex", "invalid regex"),
        ('{"id": "a", "prompt": "x", "expect": {"regex": 5}}', 1, "expect.regex", "must be a string"),
        ('{"id": "a", "prompt": "x", "expect": {"json": "yes"}}', 1, "expect.json", "true or false"),
        ('{"id": "a", "prompt": "x", "expect": {"max_chars": 0}}', 1, "expect.max_chars", "positive integer"),
        (
            '{"id": "a", "prompt": "x", "expect": {"max_chars": true}}',
            1,
            "expect.max_chars",
            "positive integer",
        ),
        ('{"id": "a", "prompt": "x", "expect": {"label": "billing dept"}}', 1, "expect.label", "compared as"),
        ('{"id": "a", "prompt": "x", "expect": {"label": "..."}}', 1, "expect.label", "non-empty string"),
        ('{"id": "a", "prompt": "x", "expect": ["label"]}', 1, "expect", "must be an object"),
        ('{"id": "a", "messages": []}', 1, "messages", "non-empty list"),
        ('{"id": "a", "messages": [{"role": "bot", "content": "x"}]}', 1, "messages[0]", "needs a role"),
        (
            '{"id": "a", "messages": [{"role": "user", "content": "x"}], "system": "s"}',
            1,
            "system",
            "goes with",
        ),
        ('{"id": "a", "prompt": "x", "max_tokens": -1}', 1, "max_tokens", "positive integer"),
        ('{"id": "a", "prompt": "x", "category": 3}', 1, "category", "must be a string"),
    ],
)
def test_bad_lines_name_file_line_and_field(text: str, line: int, field: str | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as info:
        parse_smoke_cases(text, "support.jsonl")
    err = info.value
    assert (err.source, err.line, err.field) == ("support.jsonl", line, field)
    assert str(err).startswith(f"support.jsonl:{line}: ")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_a_file_without_cases_is_an_error(text: str) -> None:
    with pytest.raises(ConfigError, match="no smoke cases found") as info:
        parse_smoke_cases(text, "empty.jsonl")
    assert info.value.source == "empty.jsonl"


def test_the_example_file_is_a_valid_support_smoke_test() -> None:
    cases = parse_smoke_cases(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert len(cases) == 12
    labels = {case.expect.label for case in cases}
    assert labels == {"billing", "account", "shipping", "technical"}
    for case in cases:
        assert case.prompt is not None and case.prompt == case.prompt.lower()
        assert case.id.startswith(f"{case.expect.label}-")
    report = summarize([check_output(case, f"{case.expect.label}\n", None) for case in cases])
    assert report.passed and report.warnings == ()


# ---------------------------------------------------------------- requests


@pytest.mark.parametrize(
    ("fields", "messages", "max_tokens"),
    [
        ({}, [{"role": "user", "content": "where is my parcel?"}], DEFAULT_MAX_TOKENS),
        (
            {"system": "one word"},
            [{"role": "system", "content": "one word"}, {"role": "user", "content": "where is my parcel?"}],
            DEFAULT_MAX_TOKENS,
        ),
        ({"max_tokens": 3}, [{"role": "user", "content": "where is my parcel?"}], 3),
        ({"expect": {"max_chars": 40}}, [{"role": "user", "content": "where is my parcel?"}], 41),
    ],
)
def test_to_openai_chat_request(
    fields: dict[str, Any], messages: list[dict[str, str]], max_tokens: int
) -> None:
    expect = fields.pop("expect", None)
    request = _case(expect, **fields).to_openai_chat_request("support-v2.2")
    assert request == {
        "model": "support-v2.2",
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": False,
    }


def test_messages_cases_are_sent_as_written() -> None:
    (case,) = parse_smoke_cases(
        '{"id": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},'
        ' {"role": "user", "content": "c"}]}'
    )
    assert [m["content"] for m in case.to_openai_chat_request("x")["messages"]] == ["a", "b", "c"]


# ---------------------------------------------------------------- judging answers


@pytest.mark.parametrize(
    ("expect", "output", "failures"),
    [
        (None, "shipping", []),
        (None, "", ["expected a non-empty answer, got an empty one"]),
        (None, "  \n", ["expected a non-empty answer, got an empty one"]),
        ({"non_empty": False}, "", []),
        ({"label": "shipping"}, "Shipping.", []),
        ({"label": "shipping"}, "**shipping**\nThe parcel is late.", []),
        ({"label": "shipping"}, "  'SHIPPING' ", []),
        ({"label": "shipping"}, "billing", ["expected label 'shipping', got 'billing'"]),
        ({"label": "shipping"}, "label: shipping", ["expected label 'shipping', got 'label'"]),
        ({"label": "shipping"}, "!!!", ["expected label 'shipping', got no label in '!!!'"]),
        ({"label": "tech-support"}, "Tech-Support, clearly", []),
        ({"label": "shipping", "json": True}, '{"label": "Shipping", "confidence": 0.9}', []),
        ({"label": "shipping"}, '{"label": "billing"}', ["expected label 'shipping', got 'billing'"]),
        ({"regex": "^(billing|account)"}, "account locked", []),
        ({"regex": "^(billing|account)"}, "\n billing", []),
        (
            {"regex": "^(billing|account)"},
            "shipping",
            ["expected the answer to match /^(billing|account)/, got 'shipping'"],
        ),
        ({"json": True}, ' {"a": 1} ', []),
        (
            {"json": True},
            "```json\n{}\n```",
            ["expected valid JSON, got '```json\\n{}\\n```' (Expecting value)"],
        ),
        ({"max_chars": 5}, "billing", ["expected at most 5 characters, got 7"]),
        ({"max_chars": 7}, "billing\n", []),
        (
            {"label": "billing", "max_chars": 10, "regex": "^b"},
            "shipping is my answer",
            [
                "expected at most 10 characters, got 21",
                "expected the answer to match /^b/, got 'shipping is my answer'",
                "expected label 'billing', got 'shipping'",
            ],
        ),
    ],
)
def test_check_output(expect: dict[str, Any] | None, output: str, failures: list[str]) -> None:
    result = check_output(_case(expect), output, None)
    assert list(result.failures) == failures
    assert result.passed is (not failures)
    assert not result.errored


@pytest.mark.parametrize(
    ("output", "error", "failure"),
    [
        (
            None,
            "backend of slot 'green' timed out after 30 s",
            "request failed: backend of slot 'green' timed out",
        ),
        (None, None, "the backend returned no answer"),
        ("billing", "connection reset", "request failed: connection reset"),
    ],
)
def test_a_failed_request_fails_the_case(output: str | None, error: str | None, failure: str) -> None:
    result = check_output(_case({"label": "billing"}), output, error)
    assert not result.passed and result.errored
    assert result.failures[0].startswith(failure)
    assert result.category == "billing"


def test_long_answers_are_previewed_not_dumped() -> None:
    result = check_output(_case({"regex": "^x"}), "y" * 500, None)
    assert len(result.failures[0]) < 200 and result.failures[0].endswith("…'")
    assert len(result.output_head) == 80


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Billing", "billing"),
        ("billing.", "billing"),
        ("- account", "account"),
        ("_x_", "x"),
        ("", ""),
        ("É-mail issue", "é-mail"),
        ("tech_support!", "tech_support"),
    ],
)
def test_normalize_label(text: str, label: str) -> None:
    assert normalize_label(text) == label


# ---------------------------------------------------------------- the report


@pytest.mark.parametrize(
    ("passed", "failed", "verdict", "warning"),
    [
        (12, 0, True, None),
        (10, 0, True, None),
        (20, 0, True, None),
        (11, 1, False, None),
        (9, 0, True, "only 9 smoke cases"),
        (1, 0, True, "only 1 smoke case;"),
        (21, 0, True, "21 smoke cases; more than 20"),
        (0, 0, False, "no smoke cases were run"),
    ],
)
def test_summarize(passed: int, failed: int, verdict: bool, warning: str | None) -> None:
    report = summarize(_results(passed, failed))
    assert report.passed is verdict
    assert (report.total, report.passed_count, report.failed_count) == (passed + failed, passed, failed)
    if warning is None:
        assert report.warnings == ()
    else:
        assert len(report.warnings) == 1 and warning in report.warnings[0]


def test_report_to_dict_is_json_ready_and_lists_every_case() -> None:
    cases = parse_smoke_cases(EXAMPLE.read_text(encoding="utf-8"), "support-smoke.jsonl")
    answers = {case.id: case.expect.label or "" for case in cases}
    answers["shipping-2"] = "billing"
    results = [check_output(case, answers[case.id], None) for case in cases]
    results[-1] = check_output(cases[-1], None, "timed out")
    data = json.loads(json.dumps(summarize(results).to_dict()))
    assert data["passed"] is False
    assert (data["total"], data["passed_count"], data["failed_count"], data["errored_count"]) == (
        12,
        10,
        2,
        1,
    )
    assert [c["id"] for c in data["cases"]] == [case.id for case in cases]
    assert data["failed"][0] == {
        "id": "shipping-2",
        "passed": False,
        "failures": ["expected label 'shipping', got 'billing'"],
        "output_head": "billing",
        "category": "shipping",
        "errored": False,
    }
    assert data["categories"]["shipping"] == {"passed": 2, "total": 3}
    assert data["categories"]["technical"] == {"passed": 2, "total": 3}
    assert data["warnings"] == []


def test_render_text_reads_at_a_glance() -> None:
    (case,) = parse_smoke_cases('{"id": "shipping-2", "prompt": "late", "expect": {"label": "shipping"}}')
    results = [check_output(case, "billing, because", None), check_output(case, None, "connection refused")]
    text = summarize(results).render_text()
    assert text.splitlines() == [
        "smoke test FAILED: 0/2 cases passed (1 could not be run)",
        "  shipping 0/2",
        "  FAIL shipping-2: expected label 'shipping', got 'billing'",
        "       answer: 'billing, because'",
        "  FAIL shipping-2: request failed: connection refused",
        "  warning: only 2 smoke cases; use 10-20 representative prompts so every category is exercised",
    ]
    assert summarize(_results(10)).render_text() == "smoke test passed: 10/10 cases passed"


def test_a_completion_case_is_a_raw_text_completion() -> None:
    (case,) = parse_smoke_cases(
        '{"id": "r", "completion": "ticket: refund intent:", "expect": {"label": "billing"}}'
    )
    request = case.to_openai_request("m")
    assert request["prompt"] == "ticket: refund intent:" and "messages" not in request
    assert request["temperature"] == 0 and request["stream"] is False
