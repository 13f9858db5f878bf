"""The evaluation gate: paired per category, hard cases, and alone — as tables of cases."""

from __future__ import annotations

import pytest

from slipway.analysis.evaluation import CaseOutcome, GateRule, judge_suite

RULE = GateRule(max_drop_points=5, alpha=0.05)


def outcomes(
    category: str, *, both: int = 0, worse: int = 0, better: int = 0, neither: int = 0
) -> list[CaseOutcome]:
    """Cases by how the two slots did: both right, only production right, only the candidate, neither."""
    rows = (
        [(True, True)] * both
        + [(True, False)] * worse
        + [(False, True)] * better
        + [(False, False)] * neither
    )
    return [
        CaseOutcome(f"{category}-{i}", category, False, cand, "answer", baseline_passed=base)
        for i, (base, cand) in enumerate(rows)
    ]


@pytest.mark.parametrize(
    ("cases", "passed", "flagged"),
    [
        pytest.param(
            outcomes("billing", both=40) + outcomes("shipping", both=40), True, set(), id="identical"
        ),
        pytest.param(outcomes("billing", both=38, worse=2), True, set(), id="two-unlucky-answers"),
        pytest.param(outcomes("billing", both=25, worse=1, better=1), True, set(), id="churn-without-drop"),
        pytest.param(
            outcomes("billing", worse=12) + outcomes("shipping", both=12),
            False,
            {"billing", "(all cases)"},
            id="billing-broken",
        ),
        pytest.param(
            outcomes("billing", worse=3) + outcomes("other", both=3), True, set(), id="too-few-to-tell"
        ),
        pytest.param(outcomes("billing", neither=20, better=20), True, set(), id="candidate-better"),
        pytest.param(
            outcomes("billing", both=200, worse=30), False, {"billing", "(all cases)"}, id="13-points-big-n"
        ),
    ],
)
def test_a_category_fails_only_when_worse_beyond_the_allowed_drop_with_confidence(
    cases: list[CaseOutcome], passed: bool, flagged: set[str]
) -> None:
    result = judge_suite(cases, RULE, suite="s")

    named = {name for name, row in result["categories"].items() if row["significant"]}
    if result["whole"]["significant"]:
        named.add("(all cases)")
    assert (result["passed"], named) == (passed, flagged)


def test_the_allowed_drop_is_the_operators_choice() -> None:
    cases = outcomes("billing", both=200, worse=30)

    assert not judge_suite(cases, GateRule(5, 0.05), suite="s")["passed"]
    assert judge_suite(cases, GateRule(20, 0.05), suite="s")["passed"]


def test_a_hard_case_fails_the_run_whatever_production_did() -> None:
    hard = CaseOutcome(
        "r-1", "billing", True, False, "shipping", ("expected label 'billing'",), baseline_passed=False
    )
    result = judge_suite([*outcomes("billing", both=30), hard], RULE, suite="regressions")

    assert not result["passed"] and result["must_pass_failed"] == 1
    assert "hard case r-1 (billing) failed: expected label 'billing'" in result["text"]
    assert "hard cases 0/1" in result["text"]


@pytest.mark.parametrize(("right", "minimum", "passed"), [(9, 0.9, True), (8, 0.9, False), (0, None, True)])
def test_alone_the_minimum_accuracy_decides(right: int, minimum: float | None, passed: bool) -> None:
    cases = [CaseOutcome(f"c{i}", "billing", False, i < right, "x") for i in range(10)]

    result = judge_suite(cases, GateRule(5, 0.05, minimum), suite="s")

    assert result["passed"] is passed and not result["paired"]
    assert result["categories"]["billing"]["baseline_correct"] is None


def test_an_empty_suite_checks_nothing_and_does_not_pass() -> None:
    result = judge_suite([], RULE, suite="s")
    assert not result["passed"] and "nothing was checked" in result["text"]
