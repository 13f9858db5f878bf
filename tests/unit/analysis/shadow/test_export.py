"""The review sample: every category present, disagreement over-represented, reproducible, JSONL and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import pytest
from tests.unit.analysis.shadow.synth import make_pairs, pair

from slipway.analysis.shadow.compare import compare_pairs
from slipway.analysis.shadow.export import COLUMNS, kind_of, sample_for_review, to_csv, to_jsonl
from slipway.core.shadow_config import ShadowConfig

CONFIG = ShadowConfig()


def sample(n: int, seed: int = 0) -> tuple[list[dict[str, object]], list[str]]:
    pairs = make_pairs(2000, 21, lambda c, code: 0.2 if c == "billing" else 0.0)
    pairs.append(pair("rare-1", "billing", "billing", category="rare"))
    outcomes = compare_pairs(pairs, CONFIG)
    return sample_for_review(pairs, outcomes, n, seed), [kind_of(o) for o in outcomes]


def test_every_category_is_present_and_regressions_are_over_represented() -> None:
    rows, kinds = sample(100)
    assert len(rows) == 100
    assert {r["category"] for r in rows} == {"billing", "shipping", "account", "technical", "rare"}
    population = Counter(kinds)
    drawn = Counter(str(r["stratum"]) for r in rows)
    share = population["regression"] / len(kinds)
    assert drawn["regression"] / len(rows) > 3 * share
    assert drawn["agree"] / len(rows) < population["agree"] / len(kinds)


def test_design_weights_add_up_to_the_population() -> None:
    rows, kinds = sample(150)
    assert sum(float(str(r["weight"])) for r in rows) == pytest.approx(len(kinds), rel=0.01)


def test_the_same_seed_gives_the_same_rows() -> None:
    assert sample(50, seed=1)[0] == sample(50, seed=1)[0]
    assert sample(50, seed=1)[0] != sample(50, seed=2)[0]


def test_asking_for_more_than_there_is_returns_everything() -> None:
    pairs = [pair(f"p{i}", "billing", "billing" if i % 2 else "x") for i in range(7)]
    rows = sample_for_review(pairs, compare_pairs(pairs, CONFIG), 50, 0)
    assert sorted(str(r["pair_id"]) for r in rows) == sorted(p.pair_id for p in pairs)
    assert sample_for_review(pairs, compare_pairs(pairs, CONFIG), 0, 0) == []


def test_rows_have_what_a_reviewer_needs() -> None:
    pairs = [pair("p1", "billing", "", candidate_error="timeout", candidate_status=0, label="billing")]
    (row,) = sample_for_review(pairs, compare_pairs(pairs, CONFIG), 5, 0)
    assert list(row) == list(COLUMNS)
    assert row["candidate_answer"] == "[timeout]"
    assert row["candidate_format"] == "error: timeout"
    assert row["automatic_verdict"] == "regression"
    assert row["production_correct"] == "yes" and row["candidate_correct"] == "no"
    assert row["reviewer_choice"] == "" and row["reviewer_notes"] == ""


def test_jsonl_and_csv_round_trip() -> None:
    rows, _ = sample(20)
    back = [json.loads(line) for line in to_jsonl(rows).splitlines()]
    assert back == rows
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [r["pair_id"] for r in table] == [r["pair_id"] for r in rows]
    assert table[0]["input"] == rows[0]["input"]
    assert json.loads(table[0]["agreement"]) == rows[0]["agreement"]


def test_csv_does_not_let_a_spreadsheet_run_user_text() -> None:
    pairs = [pair("p1", '=HYPERLINK("http://x")', "billing", input_text="+cmd|' /C calc'!A0")]
    text = to_csv(sample_for_review(pairs, compare_pairs(pairs, CONFIG), 1, 0))
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["input"].startswith("'+cmd")
    assert row["production_answer"].startswith("'=HYPERLINK")
