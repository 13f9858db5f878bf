"""A notification as Slack-compatible JSON, and the log's plain metric table."""

from __future__ import annotations

import json
import logging

import pytest

from slipway.core.canary import MetricRow, VerdictAction
from slipway.core.notifications import Notification, Severity
from slipway.notify.fanout import Fanout, When
from slipway.notify.log import LogNotifier
from slipway.notify.slack import metric_table, slack_payload

ROWS = (
    MetricRow(
        "error_rate", 0.01, 0.011, "> 2× production", VerdictAction.PASS, n_baseline=900, n_candidate=100
    ),
    MetricRow(
        "accuracy",
        0.95,
        0.62,
        "> 5 points drop",
        VerdictAction.ROLLBACK,
        category="billing",
        n_baseline=400,
        n_candidate=60,
        detail="p=1e-9",
    ),
)
NOTE = Notification(
    event="canary.rolled_back",
    title="canary v2.2 rolled back at 5%: billing accuracy fell",
    severity=Severity.CRITICAL,
    text="All traffic is on blue.",
    metrics=ROWS,
    facts={"version": "v2.2", "phase": "1/2"},
    at=1.0,
)


def test_the_payload_has_text_blocks_an_attachment_and_the_raw_event() -> None:
    body = slack_payload(NOTE)
    assert body["text"] == ":rotating_light: canary v2.2 rolled back at 5%: billing accuracy fell"
    assert body["blocks"][0]["text"]["text"] == "*canary v2.2 rolled back at 5%: billing accuracy fell*"
    assert body["blocks"][2]["fields"][0]["text"] == "*version*\nv2.2"
    table = body["blocks"][3]["text"]["text"]
    assert table.startswith("```metric") and "billing   0.95      0.62" in table
    attachment = body["attachments"][0]
    assert attachment["color"] == "#e01e5a"
    assert attachment["fields"][1] == {
        "title": "accuracy [billing]",
        "value": "0.62 vs 0.95 (> 5 points drop): rollback",
        "short": False,
    }
    assert body["slipway"]["event"] == "canary.rolled_back" and len(body["slipway"]["metrics"]) == 2


def test_a_notification_without_metrics_has_no_table() -> None:
    body = slack_payload(Notification(event="canary.paused", title="paused"))
    assert [b.get("text", {}).get("text") for b in body["blocks"]] == ["*paused*"]
    assert body["attachments"][0]["fields"] == []


def test_the_plain_table_aligns_columns() -> None:
    lines = metric_table(ROWS).splitlines()
    assert lines[0].split() == [
        "metric",
        "category",
        "baseline",
        "candidate",
        "threshold",
        "verdict",
        "n",
        "(b/c)",
        "effect",
        "(interval),",
        "p",
    ]
    assert lines[2].index("billing") == lines[0].index("category")


def test_a_pass_past_its_threshold_says_it_is_not_significant_yet_with_its_interval() -> None:
    """A notification must not read as wrong: 3x the latency beside "pass" says why, with the interval."""
    row = MetricRow(
        "latency_p95", 28.65, 86.58, "> 1.5× production", VerdictAction.PASS, n_baseline=40, n_candidate=6,
        summary="3.0× (0.8× … 11×), p=0.09",
    )  # fmt: skip
    table = metric_table((row,))
    assert "pass: not significant yet" in table and "3.0× (0.8× … 11×), p=0.09" in table
    assert table.splitlines()[-1].startswith("not significant yet: the candidate looks worse")
    field = slack_payload(Notification(event="canary.check", title="check", metrics=(row,)))["attachments"][0]
    assert field["fields"][0]["value"] == (
        "86.58 vs 28.65 (> 1.5× production): pass: not significant yet; 3.0× (0.8× … 11×), p=0.09"
    )
    assert "not significant yet" not in metric_table(ROWS)


def test_the_log_notifier_logs_at_the_severity_with_the_table(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="slipway.notify"):
        LogNotifier().notify(NOTE)
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and "accuracy" in record.getMessage()


def test_fanout_survives_a_failing_notifier_and_when_follows_its_setting() -> None:
    got: list[str] = []

    class Broken:
        def notify(self, notification: Notification) -> None:
            raise RuntimeError("boom")

    class Keep:
        def notify(self, notification: Notification) -> None:
            got.append(notification.event)

    enabled = [False]
    Fanout([Broken(), When(Keep(), lambda: enabled[0]), Keep()]).notify(NOTE)
    enabled[0] = True
    Fanout([When(Keep(), lambda: enabled[0])]).notify(NOTE)
    assert got == ["canary.rolled_back", "canary.rolled_back"]


def test_a_notification_kept_in_the_store_reads_back_the_same() -> None:
    assert Notification.from_dict(json.loads(json.dumps(NOTE.to_dict()))) == NOTE
