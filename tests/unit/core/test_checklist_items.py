"""Each checklist item judged from its evidence, as tables of cases; waivers and the required set."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError as PydanticValidationError

from slipway.core import checklist_items as judge
from slipway.core.checklist import (
    ITEMS,
    ItemResult,
    ItemStatus,
    deployment_note,
    parse_waivers,
    passed,
    refusal_words,
    settle,
    summary_words,
    waiver_words,
)
from slipway.core.checklist_config import DEFAULT_REQUIRED, ChecklistConfig
from slipway.core.deliveries import Delivery, Outcome
from slipway.core.errors import ValidationError
from slipway.core.lifecycle import DrillRecord, EvalRunRecord

NOW = 1_000_000.0
DAY = 86_400.0
P, F, W, NA = ItemStatus.PASS, ItemStatus.FAIL, ItemStatus.WAIVED, ItemStatus.NA


def run(
    suite: str, passed: bool, must_pass_failed: Any = 0, text: str = "", must_pass: Any = 4
) -> EvalRunRecord:
    result = {"must_pass_failed": must_pass_failed, "text": text, "must_pass": must_pass}
    return EvalRunRecord(
        id=suite, at=NOW, suite=suite, suite_version=2, slot="green", slot_version="v2.2", passed=passed,
        actor="t", result=result, against="blue",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("runs", "status", "words"),
    [
        (None, F, "could not be run"),
        ([], F, "no evaluation suite is stored"),
        ([run("billing", True), run("tone", True)], P, "2 suites passed their gates against blue"),
        (
            [run("billing", False, text="billing 12 points worse"), run("tone", True)],
            F,
            "billing 12 points worse",
        ),
    ],
)
def test_evaluation(runs: list[EvalRunRecord] | None, status: ItemStatus, words: str) -> None:
    result = judge.judge_evaluation(runs, "the runner is down")
    assert result.status is status and words in result.evidence
    assert (result.fix is not None) == (status is F)


@pytest.mark.parametrize(
    ("runs", "status", "words"),
    [
        (None, F, "could not be run"),
        ([], NA, "so no regression case yet"),
        ([run("a", True, 0), run("b", False, 0)], P, "all 8 must-pass cases passed in 2 suites"),
        # No hard case anywhere yet: nothing to hold to 100 %, said so rather than passed.
        ([run("a", True, 0, must_pass=0)], NA, "no must-pass cases yet"),
        ([run("a", True, 0), run("b", False, 3)], F, "3 must-pass cases failed (b: 3)"),
        # A result without the count, or a nonsense one, counts no failure (the gate itself still speaks).
        ([run("a", True, None, must_pass=None), run("b", True, True), run("c", True, -2)], P, "passed in 3"),
    ],
)
def test_regression(runs: list[EvalRunRecord] | None, status: ItemStatus, words: str) -> None:
    result = judge.judge_regression(runs)
    assert result.status is status and words in result.evidence


@pytest.mark.parametrize(
    ("candidate", "production", "status", "words"),
    [
        ([100.0] * 10, [100.0] * 10, P, "p50 100 ms vs 100 ms (1.00x)"),
        ([140.0] * 10, [100.0] * 10, P, "(1.40x)"),
        ([160.0] * 10, [100.0] * 10, F, "over the bound: p50 1.60x > 1.5x, p95 1.60x > 1.5x"),
        # The median is fine but the tail is slow: only p95 crosses.
        ([100.0] * 18 + [400.0, 400.0], [100.0] * 20, F, "over the bound: p95 4.00x > 1.5x"),
        ([100.0] * 3, [100.0] * 3, F, "only 3 of the replayed requests"),
    ],
)
def test_latency(candidate: list[float], production: list[float], status: ItemStatus, words: str) -> None:
    replay = judge.LatencyReplay(candidate, production, "10 smoke cases")
    result = judge.judge_latency(replay, p50_max=1.5, p95_max=1.5)
    assert result.status is status and words in result.evidence, result.evidence


@pytest.mark.parametrize(
    ("candidate", "production", "status"),
    [
        ([9.0] * 10, [2.0] * 10, P),  # 4.5x, but 7 ms: noise on a server this fast
        ([40.0] * 10, [2.0] * 10, F),  # 20x and 38 ms
        ([2.0] * 18 + [30.0, 30.0], [2.0] * 20, P),  # a p95 of 15x that is 28 ms... under a 30 ms slack
    ],
)
def test_latency_slack(candidate: list[float], production: list[float], status: ItemStatus) -> None:
    replay = judge.LatencyReplay(candidate, production, "smoke")
    assert judge.judge_latency(replay, p50_max=1.5, p95_max=1.5, slack_ms=30).status is status


def test_latency_without_requests_says_where_to_get_them() -> None:
    result = judge.judge_latency(None, p50_max=1.5, p95_max=1.5)
    assert result.status is F and result.fix is not None and "--smoke" in result.fix


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0, 2.0, 3.0, 4.0], 0.5, 2.0),
        ([5.0, 1.0, 3.0], 0.5, 3.0),
        ([float(i) for i in range(1, 21)], 0.95, 19.0),
    ],
)
def test_percentile_is_an_observed_value(values: list[float], q: float, expected: float) -> None:
    assert judge.percentile(values, q) == expected


@pytest.mark.parametrize(
    ("valid", "status"), [(True, P), (False, F), (None, NA)]
)  # fmt: skip
def test_model_file(valid: bool | None, status: ItemStatus) -> None:
    result = judge.judge_model_file(judge.ModelFileCheck(valid, "words"))
    assert result.status is status and result.evidence == "words"


@pytest.mark.parametrize(
    ("probe", "status", "words"),
    [
        (judge.Probe("blue", "v2.1", True, "2 characters in 5 ms"), P, "v2.1 in slot blue answered a probe"),
        (
            judge.Probe("blue", "v2.1", False, "connection refused"),
            F,
            "did not answer a probe: connection refused",
        ),
        (judge.Probe(None, None, False, ""), F, "no other slot to roll back to"),
    ],
)
def test_previous_version(probe: judge.Probe, status: ItemStatus, words: str) -> None:
    result = judge.judge_previous_version(probe)
    assert result.status is status and words in result.evidence


def drill(age_days: float, ok: bool, reason: str = "") -> DrillRecord:
    return DrillRecord(
        id=str(age_days), at=NOW - age_days * DAY, actor="t", slot="green", passed=ok,
        result={"switch_ms": 42.0, "reason": reason},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("drills", "status", "words"),
    [
        ([], F, "no rollback drill has passed (none run)"),
        ([drill(3, True)], P, "drill on slot green passed 3d ago, switch 42 ms"),
        ([drill(40, True)], F, "older than 30d"),
        ([drill(1, False, "standby gave wrong answers"), drill(3, True)], F, "a later drill failed"),
        ([drill(1, False, "timeout")], F, "no rollback drill has passed; a later drill failed"),
        # An older failure before a newer pass does not count against it.
        ([drill(1, True), drill(3, False)], P, "passed 1d ago"),
    ],
)
def test_drill(drills: list[DrillRecord], status: ItemStatus, words: str) -> None:
    result = judge.judge_drill(drills, now=NOW, max_age_s=30 * DAY)
    assert result.status is status and words in result.evidence, result.evidence


def delivery(event: str, age_days: float, ok: bool = True, title: str = "t") -> Delivery:
    outcome = Outcome.DELIVERED if ok else Outcome.FAILED
    return Delivery(
        "webhook https://hooks.example/…",
        event,
        title,
        outcome,
        1,
        None if ok else "503",
        NOW - age_days * DAY,
    )


@pytest.mark.parametrize(
    ("sinks", "deliveries", "windows", "status", "words"),
    [
        ([], [], "every 5 min", F, "no notification sink is configured"),
        (["h"], [], "every 5 min", F, "no test event delivered within 7d"),
        (["h"], [delivery("notify.test", 9)], "every 5 min", F, "(the last 9d ago)"),
        (["h"], [delivery("notify.test", 1, ok=False)], "every 5 min", F, "no test event delivered"),
        (["h"], [delivery("canary.phase", 1)], "every 5 min", F, "no test event delivered"),
        (["h"], [delivery("notify.test", 1)], None, F, "no monitoring windows"),
        (["h"], [delivery("notify.test", 1)], "every 5 min", P, "test event delivered to webhook"),
    ],
)
def test_monitoring(
    sinks: list[str], deliveries: list[Delivery], windows: str | None, status: ItemStatus, words: str
) -> None:
    result = judge.judge_monitoring(sinks, deliveries, windows=windows, now=NOW, max_age_s=7 * DAY)
    assert result.status is status and words in result.evidence, result.evidence


STARVED = (
    "at the traffic ... it will likely end inconclusive. Steps that fit this traffic: --steps 5%:9h,100%"
)


@pytest.mark.parametrize(
    ("strategy", "plan", "starved", "status", "words"),
    [
        ("bluegreen", None, None, NA, "a bluegreen deploy has no canary phases"),
        ("shadow", None, None, NA, "a shadow deploy"),
        ("canary", "5%:2h,25%:4h,100%", None, P, "fit the recent traffic"),
        ("canary", "5%:2h,100%", STARVED, F, "end inconclusive"),
        ("canary", None, None, F, "no canary steps defined"),
    ],
)
def test_canary_plan(
    strategy: str, plan: str | None, starved: str | None, status: ItemStatus, words: str
) -> None:
    result = judge.judge_canary_plan(strategy, plan, starved)
    assert result.status is status and words in result.evidence


def test_a_starved_plan_names_the_steps_that_fit() -> None:
    assert judge.judge_canary_plan("canary", "5%:2h,100%", STARVED).fix == "use --steps 5%:9h,100%"


@pytest.mark.parametrize(
    ("owner", "automated", "status", "words"),
    [
        ("ana", None, P, "owner ana"),
        ("ana", "the bake rolls back", P, "owner ana; also the bake rolls back"),
        (None, "the bake rolls back", P, "no owner named, but the bake rolls back"),
        (None, None, F, "no owner named and no automated rollback"),
    ],
)
def test_owner(owner: str | None, automated: str | None, status: ItemStatus, words: str) -> None:
    result = judge.judge_owner(owner, automated)
    assert result.status is status and result.evidence == words


@pytest.mark.parametrize(
    ("deliveries", "status", "words"),
    [
        ([], F, "no announcement of v2.2 was delivered"),
        ([delivery("deploy.announced", 0.5, title="deployment of v2.2 announced by ana")], P, "12h ago"),
        (
            [delivery("deploy.announced", 0.5, ok=False, title="deployment of v2.2 announced by ana")],
            F,
            "503",
        ),
        # Another version's announcement is not this one's; v2.2 must not match v2.20.
        (
            [delivery("deploy.announced", 0, title="deployment of v2.20 announced by ana")],
            F,
            "no announcement",
        ),
        (
            [delivery("deploy.announced", 0, title="deployment of v2.1 announced by ana")],
            F,
            "no announcement",
        ),
    ],
)
def test_announced(deliveries: list[Delivery], status: ItemStatus, words: str) -> None:
    result = judge.judge_announced("v2.2", deliveries, now=NOW)
    assert result.status is status and words in result.evidence, result.evidence


# -- waivers, the required set, the verdict ------------------------------------------------------


def results(**statuses: ItemStatus) -> list[ItemResult]:
    return [ItemResult(item, statuses.get(item, P), f"{item} evidence", fix=f"fix {item}") for item in ITEMS]


@pytest.mark.parametrize(
    ("failed", "required", "waivers", "ok", "after"),
    [
        ({}, ITEMS, {}, True, {}),
        ({"drill": F}, ("owner",), {}, True, {"drill": F}),
        ({"drill": F}, ("drill",), {}, False, {"drill": F}),
        ({"drill": F}, ("drill",), {"drill": "booked Monday"}, True, {"drill": W}),
        # A waiver of an item that passed changes nothing: the record never claims a waiver it did not need.
        ({}, ("drill",), {"drill": "booked Monday"}, True, {"drill": P}),
        ({"model_file": NA}, ITEMS, {}, True, {"model_file": NA}),
        ({"drill": F, "owner": F}, ITEMS, {"drill": "x"}, False, {"drill": W, "owner": F}),
    ],
)
def test_settle_and_verdict(
    failed: dict[str, ItemStatus],
    required: tuple[str, ...],
    waivers: dict[str, str],
    ok: bool,
    after: dict[str, ItemStatus],
) -> None:
    settled = settle(results(**failed), required, waivers)
    assert passed(settled) is ok
    for item, status in after.items():
        [r] = [r for r in settled if r.item == item]
        assert r.status is status and r.required == (item in required)
        assert (r.waiver is not None) == (status is W)


def test_refusal_words_name_every_blocking_item_with_its_fix_and_nothing_else() -> None:
    settled = settle(results(drill=F, owner=F, latency=F), ("drill", "owner"), {})
    words = refusal_words(settled)
    assert words.splitlines() == [
        "drill (rollback drill done recently): drill evidence. Fix: fix drill",
        "owner (on-call owner named or automated rollback configured): owner evidence. Fix: fix owner",
    ]
    assert summary_words(settled) == "7 pass, 2 failed (drill, owner), 1 failed, not required (latency)"


def test_waiver_words() -> None:
    settled = settle(results(drill=F), ITEMS, {"drill": "booked Monday"})
    assert waiver_words(settled) == "drill waived (booked Monday)"
    assert waiver_words(settle(results(), ITEMS, {})) is None


@pytest.mark.parametrize(
    ("items", "reasons", "expected"),
    [
        ([], [], {}),
        (["drill"], ["booked"], {"drill": "booked"}),
        (["drill", "owner"], ["one reason"], {"drill": "one reason", "owner": "one reason"}),
        (["drill", "owner"], ["a", "b"], {"drill": "a", "owner": "b"}),
    ],
)
def test_parse_waivers(items: list[str], reasons: list[str], expected: dict[str, str]) -> None:
    assert parse_waivers(items, reasons) == expected


@pytest.mark.parametrize(
    ("items", "reasons", "message"),
    [
        (["drill"], [], "a waiver needs a reason"),
        ([], ["why"], "--reason was given without --waive"),
        (["drill", "owner", "latency"], ["a", "b"], "3 waivers and 2 reasons"),
        (["dril"], ["x"], "there is no checklist item 'dril'"),
        (["drill"], ["   "], "the reason for waiving drill is empty"),
        (["drill"], ["two\nlines"], "waiver reason"),
    ],
)
def test_bad_waivers_say_what_to_write(items: list[str], reasons: list[str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_waivers(items, reasons)


# -- the checklist: section ---------------------------------------------------------------------------


def test_the_default_required_set_blocks_only_what_is_truly_wrong() -> None:
    cfg = ChecklistConfig()
    assert cfg.required_items() == DEFAULT_REQUIRED == ("regression", "model_file", "previous_version")
    assert ChecklistConfig(required="all").required_items() == ITEMS
    assert ChecklistConfig(required=["drill", "latency"]).required_items() == ("latency", "drill")
    assert cfg.drill_max_age_s() == 30 * DAY and cfg.alert_test_max_age_s() == 7 * DAY


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"required": ["drills"]}, "unknown items 'drills'; the items are: evaluation"),
        ({"required": "some"}, "unknown items 'some'"),
        ({"drill_max_age": "30"}, "add a unit"),
        ({"latency_p95_max": 0.5}, "allowed: 1 to 100"),
        ({"latency_requests": 1000}, "allowed: 4 to 200"),
        ({"required_items": ["drill"]}, "Extra inputs are not permitted"),
    ],
)
def test_bad_checklist_config_names_the_fix(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(PydanticValidationError, match=message):
        ChecklistConfig(**fields)


@pytest.mark.parametrize(
    ("detail", "words"),
    [
        ({}, None),
        ({"checklist": "not run (checklist.on_deploy is false)"}, None),
        (
            {"checklist": {"passed": True, "summary": "8 pass, 2 n/a", "waivers": None}},
            "checklist passed (8 pass, 2 n/a)",
        ),
        (
            {
                "checklist": {
                    "passed": True,
                    "summary": "7 pass, 1 waived",
                    "waivers": "drill waived (Monday)",
                }
            },
            "checklist passed (7 pass, 1 waived); drill waived (Monday)",
        ),
    ],
)
def test_deployment_note(detail: dict[str, Any], words: str | None) -> None:
    assert deployment_note(detail) == words
