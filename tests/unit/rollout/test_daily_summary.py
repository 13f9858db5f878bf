"""The daily summary: a quiet day in one line, a busy day counted and listed, every list capped."""

from __future__ import annotations

import calendar

import pytest
from pydantic import ValidationError

from slipway.core.config import NotifyConfig
from slipway.core.deliveries import Delivery, Outcome
from slipway.core.notifications import Severity
from slipway.core.types import RouteChange, RouteChangeKind
from slipway.rollout.daily_summary import (
    EVENT,
    LIST_MAX,
    DailyFacts,
    RolloutFact,
    daily_summary,
    due_day,
    next_due,
)

NOW = float(calendar.timegm((2026, 12, 6, 7, 30, 0)))


def change(kind: RouteChangeKind, at: float, actor: str = "alice", reason: str = "deploy v2") -> RouteChange:
    return RouteChange(1, at, kind, "blue", "green", actor, reason)


def test_a_quiet_day_is_one_line() -> None:
    note = daily_summary(DailyFacts(now=NOW, traffic={"blue": 1200}))
    assert note.event == EVENT
    assert "quiet day" in note.title
    assert note.text.count("\n") == 0
    assert "1200 request(s)" in note.text
    assert note.severity is Severity.INFO


def test_changes_outside_the_window_are_not_counted() -> None:
    note = daily_summary(DailyFacts(now=NOW, history=[change(RouteChangeKind.DEPLOY, NOW - 90_000)]))
    assert "quiet day" in note.title


def test_a_busy_day_counts_lists_checks_and_says_what_next() -> None:
    facts = DailyFacts(
        now=NOW,
        history=[
            change(RouteChangeKind.DEPLOY, NOW - 3600),
            change(RouteChangeKind.CANARY, NOW - 3000, actor="canary", reason="step 10 %"),
            change(RouteChangeKind.CANARY, NOW - 2000, actor="canary", reason="step 50 %"),
            change(RouteChangeKind.CONFIG, NOW - 1000, actor="bob", reason="config apply"),
        ],
        rollouts=[
            RolloutFact(
                "bake",
                "v2",
                "green",
                "running",
                verdict="pass",
                unjudged=("billing",),
                until=NOW + 7200,
                running=True,
            ),
        ],
        traffic={"blue": 10, "green": 900},
    )
    note = daily_summary(facts)
    assert "4 route change(s) (2 canary, 1 config, 1 deploy)" in note.text
    assert "deploy (blue -> green) by alice: deploy v2" in note.text
    assert "step 10 %" not in note.text  # canary steps are counted, not listed
    assert "not enough labels to judge billing" in note.text
    assert "still running until 2026-12-06 09:30 UTC" in note.text
    assert "Traffic: green 900, blue 10 request(s)." in note.text
    assert "What was found: nothing wrong." in note.text


def test_a_rollback_day_names_the_rollback_and_the_failed_sink() -> None:
    facts = DailyFacts(
        now=NOW,
        history=[
            change(
                RouteChangeKind.ROLLBACK, NOW - 600, actor="slipway (canary)", reason="billing accuracy fell"
            )
        ],
        rollouts=[RolloutFact("canary", "v3", "green", "rolled back", verdict="rollback", rolled_back=True)],
        deliveries=[
            Delivery(
                "webhook https://hooks.example/x",
                "canary.halted",
                "t",
                Outcome.FAILED,
                4,
                "HTTP 500",
                NOW - 500,
            ),
            Delivery("email smtp:25", "canary.halted", "t", Outcome.DELIVERED, 1, None, NOW - 500),
        ],
        lost=3,
    )
    note = daily_summary(facts)
    assert note.severity is Severity.WARNING
    assert "1 rollback(s)" in note.title and "1 undelivered" in note.title
    assert "automatic rollback to green at 07:20 UTC: billing accuracy fell" in note.text
    assert "1 notification(s) not delivered to webhook https://hooks.example/x: HTTP 500" in note.text
    assert "3 request record(s) lost" in note.text
    assert "`slipway canary status --explain`" in note.text
    assert "`slipway notify test`" in note.text


def test_a_manual_rollback_is_called_manual() -> None:
    facts = DailyFacts(
        now=NOW, history=[change(RouteChangeKind.ROLLBACK, NOW - 60, actor="alice", reason="")]
    )
    note = daily_summary(facts)
    assert "manual rollback (blue -> green) by alice" in note.text
    assert "no reason given" in note.text


def test_huge_and_hostile_inputs_are_capped() -> None:
    history = [
        change(RouteChangeKind.DEPLOY, NOW - 10 - i, actor="x" * 10_000, reason="r\n" * 10_000)
        for i in range(5000)
    ]
    rollouts = [
        RolloutFact(
            "canary", f"v{i}", "green", "running", unjudged=tuple(f"c{j}" for j in range(100)), running=True
        )
        for i in range(500)
    ]
    deliveries = [
        Delivery(f"webhook https://h{i}.example", "e", "t", Outcome.FAILED, 1, "e" * 5000, NOW - 1)
        for i in range(500)
    ]
    traffic = {f"slot{i}": i + 1 for i in range(1000)}
    note = daily_summary(DailyFacts(NOW, history, rollouts, deliveries, traffic, lost=7))
    assert len(note.text) < 30_000
    assert f"and {5000 - LIST_MAX} more" in note.text
    assert f"and {500 - LIST_MAX} more" in note.text
    assert "and 990 more slot(s)" in note.text
    assert "5000 route change(s)" in note.text
    assert max(len(line) for line in note.text.splitlines()) < 1500


def test_due_day_and_next_due() -> None:
    assert due_day(NOW, "07:31") is None
    assert due_day(NOW, "07:30") == "2026-12-06"
    assert next_due(NOW, "07:30") == NOW + 86_400
    assert next_due(NOW, "08:00") == NOW + 1800


def test_config_takes_a_time_of_day_and_refuses_anything_else() -> None:
    assert NotifyConfig().daily_summary is None
    assert NotifyConfig(daily_summary="7:05").daily_summary == "07:05"
    for bad in ("24:00", "7", "07:60", "7h", "07:5", "-1:00"):
        with pytest.raises(ValidationError, match="not a UTC time of day"):
            NotifyConfig(daily_summary=bad)
