"""The postmortem from records: the headline, cause and advice name what failed and what to do."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slipway.analysis.postmortem import Evaluation, Facts, Reference, Rollout, TimelineEntry, build_postmortem
from slipway.analysis.postmortem.mix import Text, mix_changes
from slipway.analysis.postmortem.scoring import score
from slipway.core.lifecycle import RequestInput
from slipway.core.postmortem import LabelledAnswer, ServedCounts

ROLLOUT = Rollout(
    "dep-1", "v2.2", "green", "canary", "rolled_back", "ann", 1000.0, 8200.0, "billing fell", "blue"
)
INVOICE = '{"invoice": 7, "total": 9.99}'


@pytest.mark.parametrize(
    ("answer", "label", "completed", "correct"),
    [
        ("Billing.", "billing", True, True),
        ("**billing**", "Billing", True, True),
        ('{"label": "billing"}', "billing", True, True),
        ("shipping", "billing", True, False),
        ("", "billing", True, False),
        ("billing", "billing", False, None),  # never completed: not scored
    ],
)
def test_answers_are_judged_by_the_canary_rule(
    answer: str, label: str, completed: bool, correct: bool | None
) -> None:
    scored = score([LabelledAnswer("r", 0.0, "billing", answer, label, completed)])
    assert [s.correct for s in scored] == ([] if correct is None else [correct])


def run(
    wrong_json_billing: int = 30,
    *,
    evaluation: bool = True,
    spec: list[tuple[str, str, int, int]] | None = None,
) -> Facts:
    """Billing with a JSON invoice mostly wrong; short billing and shipping mostly right.

    `spec`: (category, input text, answers, wrong ones) instead.
    """
    answers, inputs = [], {}
    spec = spec or [
        ("billing", INVOICE, 40, wrong_json_billing),
        ("billing", "refund please", 60, 3),
        ("shipping", "where is my parcel", 100, 2),
    ]
    i = 0
    for category, text, n, wrong in spec:
        for k in range(n):
            rid = f"r{i}"
            label = category
            answered = ("shipping" if category == "billing" else "billing") if k < wrong else category
            answers.append(LabelledAnswer(rid, 1000.0 + i, category, answered, label, True, f"u{i % 30}"))
            inputs[rid] = RequestInput(rid, f"{text} #{i}", 1, None)
            i += 1
    served = ServedCounts({"billing": (100, 1), "shipping": (100, 0)}, 30, 1000.0, 1200.0)
    ref = Reference(
        "since v2.2's evaluation",
        {"billing": 4, "shipping": 36},
        [Text(f"refund please #{j}") for j in range(4)] + [Text(f"parcel #{j}") for j in range(36)],
    )
    return Facts(
        rollout=ROLLOUT,
        served=served,
        everyone={"billing": 400, "shipping": 600},
        answers=answers,
        inputs=inputs,
        timeline=[
            TimelineEntry(8200.0, "canary rollback", "slipway", "billing fell"),
            TimelineEntry(1000.0, "deploy", "ann", ""),
        ],
        evaluation=Evaluation("core", 3, True, 900.0, {"billing": 4, "shipping": 36}) if evaluation else None,
        reference=ref if evaluation else None,
        live_inputs=list(inputs.values()),
    )


def test_a_category_regression_on_one_input_pattern_is_named_with_its_evidence_and_fixes() -> None:
    pm = build_postmortem(run())
    assert pm.wrong == 35 and pm.labelled == 200
    assert pm.headline.startswith("v2.2 failed billing (33 of 100 wrong), mostly on inputs with JSON;")
    assert "slipway regressions add --from dep-1" in pm.headline
    significant = {(f.dimension, f.value) for f in pm.findings if f.significant}
    assert {("category", "billing"), ("json", "yes")} <= significant and (
        "category",
        "shipping",
    ) not in significant
    assert any(
        line.startswith("v2.2 answered billing wrong: 33 of 100 labelled answers (33%)") for line in pm.cause
    )
    assert "evaluation missed it: suite core v3 had no cases of inputs with JSON" in pm.cause
    assert "evaluation missed it: suite core v3 had 4 cases in billing and passed" in pm.cause
    assert "billing rose from 10% to 50% of traffic since v2.2's evaluation" in pm.cause
    kinds = {a.kind: a for a in pm.advice}
    assert kinds["evaluation"].text == "the evaluation suite had 4 billing cases; add these 35 failing ones"
    assert kinds["evaluation"].command == "slipway regressions add --from dep-1"
    assert kinds["data"].command == "slipway regressions export --from dep-1 --format jsonl"
    assert "above all inputs with JSON" in kinds["data"].text
    assert [t.at for t in pm.timeline] == [1000.0, 8200.0]
    assert pm.retry == "no retry date set: set one with the fixes applied"


def test_groups_list_wrong_answers_by_category_and_by_patterns_that_split_them() -> None:
    pm = build_postmortem(run())
    groups = {(g.dimension, g.value): g for g in pm.groups}
    assert groups[("category", "billing")].wrong == 33 and groups[("category", "shipping")].wrong == 2
    assert groups[("json", "yes")].wrong == 30 and groups[("json", "no")].wrong == 5
    # every wrong answer has Latin script and a number: grouping by them sets nothing apart
    assert ("script", "latin") not in groups and ("numbers", "yes") not in groups
    example = groups[("json", "yes")].examples[0]
    assert (example.answered, example.label) == ("shipping", "billing") and INVOICE in (
        example.input_excerpt or ""
    )


def test_without_an_evaluation_run_the_cause_says_production_was_the_first_test() -> None:
    pm = build_postmortem(run(evaluation=False))
    assert "no evaluation run is recorded for v2.2: production was the first test of these inputs" in pm.cause
    assert pm.mix == () and pm.mix_reference is None
    assert pm.advice[0].text == "add these 35 failing answers as must-pass regression cases"


def test_wrong_answers_spread_evenly_name_no_category_and_point_at_training() -> None:
    even = [("billing", "refund please", 100, 15), ("shipping", "where is my parcel", 100, 15)]
    pm = build_postmortem(run(spec=even))
    assert not any(f.significant for f in pm.findings)
    assert pm.headline.startswith(
        "v2.2 got 30 of 200 labelled answers wrong, no category worse than the rest "
        "(rolled back for: billing fell); 30 wrong answers"
    )
    assert "failed" not in pm.headline and not any(c.failing for c in pm.blast.per_category)
    assert pm.cause[0] == (
        "v2.2 got 30 of 200 labelled answers wrong (15%), and no category's share of them is "
        "significantly above the rest"
    )
    assert any("training run" in line for line in pm.cause)
    assert [a.kind for a in pm.advice] == ["evaluation", "data", "training"]


def test_a_rollback_without_wrong_answers_says_so_and_advises_nothing() -> None:
    pm = build_postmortem(_no_wrong())
    assert pm.wrong == 0 and "none of its" in pm.headline and pm.advice == ()
    assert pm.cause == ("no labelled answer of v2.2 was wrong; the rollback's reason: billing fell",)


def _no_wrong() -> Facts:
    facts = run()
    right = [
        LabelledAnswer(a.request_id, a.started_at, a.category, a.label, a.label, True) for a in facts.answers
    ]
    return Facts(facts.rollout, facts.served, facts.everyone, right, facts.inputs)


def test_the_retry_date_is_said_when_the_operator_set_one() -> None:
    facts = run()
    rollout = replace(ROLLOUT, retry_at=1_800_000_000.0)
    pm = build_postmortem(Facts(rollout, facts.served, facts.everyone, facts.answers, facts.inputs))
    assert pm.retry == "retry planned for 2027-01-15 08:00 UTC"


@pytest.mark.parametrize(
    ("reference", "live", "said"),
    [
        (
            {"billing": 200, "shipping": 800},
            {"billing": 350, "shipping": 650},
            ["billing rose from 20% to 35% of traffic since v2.2's evaluation"],
        ),
        ({"billing": 200, "shipping": 800}, {"billing": 205, "shipping": 795}, []),
        ({"billing": 5, "shipping": 5}, {"billing": 90, "shipping": 10}, []),  # too few to judge
    ],
)
def test_the_input_mix_is_quoted_in_drift_words_only_when_it_moved(
    reference: dict[str, int], live: dict[str, int], said: list[str]
) -> None:
    (category,) = mix_changes({"category": reference}, {"category": live}, "since v2.2's evaluation")
    assert list(category.sentences) == said


def test_when_no_category_stands_out_among_its_own_answers_the_headline_quotes_the_rollback() -> None:
    """A canary compares each category with production's; a category can regress against v2.1 yet
    be no worse than v2.2's other categories. The reader then needs the rollback's own reason."""
    even = [("billing", "refund please", 100, 15), ("shipping", "where is my parcel", 100, 15)]
    facts = run(spec=even)
    reason = "rolled back at 5%: billing accuracy 85% (v2.1: 98%), " + "detail " * 40
    facts = replace(facts, rollout=replace(facts.rollout, reason=reason))
    pm = build_postmortem(facts)
    assert "no category worse than the rest (rolled back for: rolled back at 5%: billing accuracy 85%" in (
        pm.headline
    )
    assert len(pm.headline) < 400 and "…)" in pm.headline
    # A category the candidate's own answers single out needs no quote
    assert "rolled back for" not in build_postmortem(replace(run(), rollout=facts.rollout)).headline
