"""The report names exactly the regressed category and input pattern, and nothing in an A/A set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.unit.analysis.shadow.synth import make_pairs, pair

from slipway.analysis.shadow.groups import GroupedDimension, Status, judge_groups
from slipway.analysis.shadow.report import build_report
from slipway.analysis.shadow.report_model import ShadowReport
from slipway.core.shadow import Preference, ShadowRun
from slipway.core.shadow_config import ShadowConfig, ShadowDecisionConfig

CONFIG = ShadowConfig()


def billing_and_code(category: str, has_code: bool) -> float:
    return (0.3 if category == "billing" else 0.0) + (0.4 if has_code else 0.0)


@pytest.fixture(scope="module")
def regressed() -> ShadowReport:
    return build_report(make_pairs(3000, 1, billing_and_code), CONFIG, now=1.0)


def statuses(report: ShadowReport) -> dict[str, str]:
    return {g.label: g.status.value for d in report.dimensions for g in d.groups}


def test_flags_exactly_the_regressed_category_and_input_pattern(regressed: ShadowReport) -> None:
    assert sorted(g.label for g in regressed.flagged) == ["category = billing", "code = yes"]
    assert all(g.specific and g.status is Status.REGRESSED for g in regressed.flagged)
    found = statuses(regressed)
    # every other group that looks worse is an echo of the two, and says which
    for label, status in found.items():
        if label not in ("category = billing", "code = yes"):
            assert status in ("explained", "ok", "too few pairs", "all pairs"), (label, status)
    explained = [g for d in regressed.dimensions for g in d.groups if g.status is Status.EXPLAINED]
    assert explained, "the echoes are listed, not hidden"
    assert all(
        set(g.explained_by) <= {"category = billing", "code = yes"} and g.explained_by for g in explained
    )


def test_the_verdict_is_no_go_and_says_where(regressed: ShadowReport) -> None:
    verdict = regressed.verdict
    assert verdict.decision == "no-go"
    assert any(r.startswith("category = billing") for r in verdict.reasons)
    assert any(r.startswith("code = yes") for r in verdict.reasons)
    assert "1000 pairs" in verdict.rule and "α = 0.05" in verdict.rule


def test_examples_show_why_a_pair_regressed(regressed: ShadowReport) -> None:
    billing = next(g for g in regressed.dimensions[0].groups if g.value == "billing")
    assert 1 <= len(billing.examples) <= 3
    for e in billing.examples:
        assert e.category == "billing"
        assert e.reason.startswith("candidate: ")


def test_nothing_is_flagged_in_an_aa_set() -> None:
    report = build_report(make_pairs(3000, 100), CONFIG, now=1.0)
    assert report.flagged == ()
    assert not any(s in ("regressed", "worse", "explained") for s in statuses(report).values())
    assert report.verdict.decision in ("go", "not yet")
    assert report.change.counts.n == 3000


def test_identical_groups_stay_unflagged_at_the_stated_rate() -> None:
    """judge_groups on 400 A/A data sets: the family-wise false flag rate stays at or below α."""
    rng = np.random.default_rng(11)
    decision = ShadowDecisionConfig()
    n = 2000
    sizes = (12, 3, 8, 2, 2, 2, 3, 7)
    false_flags = 0
    for _ in range(400):
        dims = [
            GroupedDimension(
                f"d{i}", rng.integers(0, k, n).astype(np.int64), tuple(f"v{j}" for j in range(k))
            )
            for i, k in enumerate(sizes)
        ]
        prod = rng.random(n) < 0.9
        cand = rng.random(n) < 0.9
        kinds = np.where(prod, np.where(cand, 0, 1), np.where(cand, 2, 3)).astype(np.int64)
        judged = judge_groups(dims, kinds, decision)
        false_flags += any(j.status.flagged for j in judged.values())
    assert false_flags / 400 <= 0.05


def test_a_regression_across_the_board_is_flagged_as_such() -> None:
    report = build_report(make_pairs(3000, 5, lambda c, code: 0.15), CONFIG, now=1.0)
    assert report.verdict.decision == "no-go"
    assert report.flagged
    assert any("regressions" in r and r.startswith("overall") for r in report.verdict.reasons)


def test_not_yet_before_min_pairs_even_when_something_looks_wrong() -> None:
    report = build_report(make_pairs(400, 2, billing_and_code), CONFIG, now=1.0)
    assert report.verdict.decision == "not yet"
    assert report.verdict.reasons[0] == "400 pairs of the 1000 needed for a verdict"
    assert any(r.startswith("already flagged") for r in report.verdict.reasons)


def test_go_needs_enough_pairs_in_every_category() -> None:
    config = ShadowConfig.model_validate({"decision": {"min_pairs": 100}})
    few = build_report(make_pairs(300, 4, base_fail=0.0), config, now=1.0)
    assert few.verdict.decision == "not yet"
    assert any("more pairs needed" in r for r in few.verdict.reasons)
    many = build_report(make_pairs(2000, 4, base_fail=0.0), config, now=1.0)
    assert many.verdict.decision == "go"
    assert all(a.met for a in many.adequacy)


def test_sides_preferences_and_run() -> None:
    pairs = [
        pair("a", "billing", "billing", label="billing"),
        pair("b", "billing", "", candidate_error="timeout", candidate_status=0, label="billing"),
        pair("c", "shipping", "billing", label="billing"),
        pair("d", "billing", "billing"),
    ]
    prefs = {
        "a": Preference(1.0),
        "b": Preference(-1.0),
        "c": Preference(0.0),
        "d": Preference(None, "no answer"),
    }
    run = ShadowRun("dep", "v2.2", "blue", "green", 10_000, 0.0, 100.0)
    report = build_report(pairs, CONFIG, run=run, preferences=prefs, now=5.0)
    assert (report.production.slot, report.candidate.slot, report.candidate.version) == (
        "blue",
        "green",
        "v2.2",
    )
    assert report.candidate.errors.count == 1
    assert report.production.correct.n == 3 and report.production.correct.count == 2
    assert report.candidate.correct.count == 2
    assert report.candidate.latency_p50_ms == 100.0
    assert report.change.counts.regressions == 1 and report.change.counts.improvements == 1
    pref = report.preference
    assert pref is not None
    assert (pref.judged, pref.wins, pref.ties, pref.losses, pref.no_verdict) == (3, 1, 1, 1, 1)
    assert pref.mean_score == 0.0 and pref.low < 0 < pref.high
    category = report.dimensions[0].groups[0]
    assert category.preference == (1, 1, 1)
    assert report.run is not None and report.run["deployment_id"] == "dep"


def test_empty_report_and_json_safety() -> None:
    empty = build_report([], CONFIG, now=0.0)
    assert empty.verdict.decision == "not yet"
    assert empty.production.latency_p50_ms is None
    data = json.loads(json.dumps(empty.to_dict(), allow_nan=False))
    assert data["pairs"] == 0 and data["dimensions"][0]["groups"] == []


def test_to_dict_is_plain_json(regressed: ShadowReport) -> None:
    data = regressed.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["verdict"]["decision"] == "no-go"
    assert set(data["flagged"]) == {"category = billing", "code = yes"}
    group = data["dimensions"][0]["groups"][0]
    assert {"dimension", "value", "n", "status", "change", "examples", "explained_by"} <= set(group)
    assert {"net_change", "net_change_ci", "p_worse", "regression_rate"} <= set(data["change"])
