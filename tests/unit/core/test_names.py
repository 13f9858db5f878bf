"""One rule for names and labels, and one for numbers: what each accepts and how a refusal reads."""

from __future__ import annotations

import math

import pytest

from slipway.core.names import (
    check_endpoint_text,
    check_env_name,
    check_label,
    check_name,
    check_text,
)
from slipway.core.numbers import Range, check_number

GOOD_NAMES = ["blue", "green", "b", "slot-2", "a_b", "v2.1", "A" * 63, "9lives"]
BAD_NAMES = [
    "",
    "../../x",
    "a/b",
    "..",
    ".hidden",
    "-flag",
    "_x",
    "blue\r\n",
    "bl ue",
    "blué",
    "A" * 64,
    "a\x00",
    "a\\b",
]


@pytest.mark.parametrize("value", GOOD_NAMES)
def test_names_that_are_accepted(value: str) -> None:
    assert check_name(value) == value


@pytest.mark.parametrize("value", BAD_NAMES)
def test_names_that_are_refused_say_what_and_the_rule(value: str) -> None:
    with pytest.raises(ValueError, match="slot name") as info:
        check_name(value, "slot name")
    assert "letters, digits" in str(info.value)


GOOD_LABELS = [
    "v2.2",
    "customer-support-v2.1",
    "cs:v2.2",
    "meta-llama/Llama-3-8B-Instruct",
    "customer-support-v2.1+v2.1-2026-01-15-1247examples",
    "v2.2 hotfix",
    "alice@host (cli)",
    "x" * 200,
]
BAD_LABELS = [
    "",
    " v1",
    "v1 ",
    "v1\r\nSet-Cookie: pwned=1",
    "v1\n",
    "v1\r",
    "v1\t",
    "v1\x00",
    "v1\x7f",
    "v1\x1b[31m",
    "café",
    "v1\u2028",
    "x" * 201,
]


@pytest.mark.parametrize("value", GOOD_LABELS)
def test_labels_that_are_accepted(value: str) -> None:
    assert check_label(value) == value


@pytest.mark.parametrize("value", BAD_LABELS)
def test_labels_that_are_refused_show_the_value_escaped(value: str) -> None:
    with pytest.raises(ValueError) as info:
        check_label(value, "version")
    message = str(info.value)
    assert message.startswith("version ") and "printable ASCII" in message
    assert "\r" not in message and "\n" not in message, "the refusal itself must be one safe line"


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (check_env_name, ["GREEN_KEY", "_X", "a1"], ["", "1X", "A-B", "A B", "A\n", "X" * 129]),
        (
            check_endpoint_text,
            ["localhost:11434", "http://10.0.0.1:8000/v1", "https://h.example/p?q=1"],
            ["h:1\r\n", "http://h :1", "h\t:1", "h:1\x00", "http://ex.com/" + "a" * 2048],
        ),
        (
            check_text,
            ["", "manual rollback", "zurück wegen Fehlern", "x" * 1000],
            ["a\nb", "a\rb", "x" * 1001],
        ),
    ],
)
def test_other_kinds(check: object, good: list[str], bad: list[str]) -> None:
    assert callable(check)
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(ValueError, match="not allowed"):
            check(value)


@pytest.mark.parametrize(
    ("rng", "value", "ok"),
    [
        (Range(0, 100), 0, True),
        (Range(0, 100), 100, True),
        (Range(0, 100), 100.0001, False),
        (Range(0, 100), -0.0001, False),
        (Range(0, 100), math.nan, False),
        (Range(0, 100), math.inf, False),
        (Range(0, 100), -math.inf, False),
        (Range(0, 60, low_open=True), 0, False),
        (Range(0, 60, low_open=True), 1e-9, True),
        (Range(0, 1, low_open=True, high_open=True), 1, False),
        (Range(1, 10), True, False),
        (Range(1, 10), "5", False),
    ],
)
def test_number_ranges(rng: Range, value: float, ok: bool) -> None:
    if ok:
        assert check_number(value, rng, "x") == value
    else:
        with pytest.raises(ValueError, match="allowed: "):
            check_number(value, rng, "x")


@pytest.mark.parametrize(
    ("rng", "text"),
    [
        (Range(0, 100, unit="percent"), "0 to 100 (percent)"),
        (Range(0, 600, low_open=True, unit="seconds"), "above 0 and at most 600 (seconds)"),
        (Range(0.5, 1, low_open=True, high_open=True), "above 0.5 and below 1"),
        (Range(1, 1024**3, unit="bytes"), "1 to 1,073,741,824 (bytes)"),
    ],
)
def test_ranges_read_as_words(rng: Range, text: str) -> None:
    assert rng.describe() == text
