"""Input-pattern features and the expected output format: each a rule a person can check by reading."""

from __future__ import annotations

import pytest
from tests.unit.analysis.shadow.synth import answer, pair

from slipway.analysis.shadow.features import (
    contains_json,
    input_features,
    length_bucket,
    looks_like_code,
    script,
    turns_bucket,
)
from slipway.analysis.shadow.output_format import (
    CODE,
    EMPTY,
    JSON_ARRAY,
    JSON_OBJECT,
    LABEL,
    LIST,
    PROSE,
    UNKNOWN,
    expected_format,
    text_format,
)


@pytest.mark.parametrize(
    ("size", "bucket"),
    [
        (0, "short (<200 chars)"),
        (199, "short (<200 chars)"),
        (200, "medium (200–1000 chars)"),
        (1000, "medium (200–1000 chars)"),
        (1001, "long (>1000 chars)"),
    ],
)
def test_length_buckets_name_their_bounds(size: int, bucket: str) -> None:
    assert length_bucket("x" * size) == bucket


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Where is my refund?", "latin"),
        ("Où est mon remboursement ? Ça fait déjà trois semaines.", "latin"),
        ("Где мой заказ? Пожалуйста, помогите.", "cyrillic"),
        ("Πού είναι η παραγγελία μου;", "greek"),
        ("أين طلبي؟ أرجو المساعدة", "arabic"),
        ("איפה ההזמנה שלי?", "hebrew"),
        ("我的订单在哪里？", "cjk"),
        ("注文はどこですか", "cjk"),
        ("제 주문은 어디에 있나요?", "cjk"),
        ("मेरा ऑर्डर कहाँ है?", "devanagari"),
        ("ვინ ხარ?", "other"),
        ("12345 !!! ???", "other"),
        ("", "other"),
        ("Order 4411: где мой заказ, пожалуйста, помогите мне", "cyrillic"),
    ],
)
def test_script_is_the_majority_of_letters(text: str, expected: str) -> None:
    assert script(text) == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Why does this fail?\n```python\nprint(1)\n```", True),
        ("def total(xs):\n    return sum(xs)", True),
        ("import numpy as np", True),
        ("from os import path", True),
        ("function add(a, b) { return a + b }", True),
        ("const total = items.length;", True),
        ("#include <stdio.h>", True),
        ("public static void main(String[] args) {", True),
        ("func main() {", True),
        ("SELECT id FROM orders WHERE total > 10", True),
        ("<div>hello</div>", True),
        ("if (x) {\n  y();\n}", True),
        ("Where is my refund for order 4411?", False),
        ("Please select the plan from the list; thanks", False),
        ("Import duties were charged twice on my order.", False),
        ("I like apples; pears too.", False),
    ],
)
def test_contains_code(text: str, code: bool) -> None:
    assert looks_like_code(text) is code


@pytest.mark.parametrize(
    ("text", "has_json"),
    [
        ('{"order": 4411}', True),
        ('Here is my payload: {"order": 4411, "items": [1, 2]} - why is it rejected?', True),
        ('Rows: [{"a": 1}, {"a": 2}]', True),
        ('["red", "green"]', True),
        ("See [1] and {this}", False),
        ('{"broken": ', False),
        ("{}", False),
        ('["only"]', False),
        ("no braces at all", False),
    ],
)
def test_contains_json(text: str, has_json: bool) -> None:
    assert contains_json(text) is has_json


@pytest.mark.parametrize(
    ("turns", "bucket"), [(0, "1 turn"), (1, "1 turn"), (2, "2–3 turns"), (3, "2–3 turns"), (4, "4+ turns")]
)
def test_turn_buckets(turns: int, bucket: str) -> None:
    assert turns_bucket(turns) == bucket


def test_every_input_dimension_has_a_value_for_a_pair() -> None:
    p = pair("p1", "billing", "billing", input_text='Invoice 12 says {"total": 3}', turns=2)
    assert input_features(p) == {
        "length": "short (<200 chars)",
        "script": "latin",
        "code": "no",
        "json": "yes",
        "numbers": "yes",
        "turns": "2–3 turns",
    }


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('{"label": "billing"}', JSON_OBJECT),
        ('```json\n{"label": "billing"}\n```', JSON_OBJECT),
        ("[1, 2, 3]", JSON_ARRAY),
        ("billing", LABEL),
        ("**Refund-request.**", LABEL),
        ("- first\n- second\n- third", LIST),
        ("Steps:\n1. open the app\n2. tap refund", LIST),
        ("```python\nprint(1)\n```", CODE),
        ("def f(x):\n    return x", CODE),
        ("Your refund was issued today and arrives in three days.", PROSE),
        ("   \n", EMPTY),
        ("{not json", PROSE),
    ],
)
def test_text_format(text: str, fmt: str) -> None:
    assert text_format(text) == fmt


def test_the_expected_format_is_the_passing_answers() -> None:
    prod, cand = answer("blue", '{"label": "x"}'), answer("green", "- a\n- b")
    assert expected_format(prod, cand, production_passed=True, candidate_passed=False) == JSON_OBJECT
    assert expected_format(prod, cand, production_passed=False, candidate_passed=True) == LIST
    assert expected_format(prod, cand, production_passed=False, candidate_passed=False) == UNKNOWN
