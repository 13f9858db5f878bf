"""Delivery outcomes are recorded and shown, and `slipway notify test` says what each sink answered.

Real parts only: the in-process gateway on its SQLite store, sim backends,
webhook receivers that fail on purpose, an aiosmtpd server, and the
`slipway` command run as a process.
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli
from tests.smtp import free_port, smtp_server
from tests.webhooks import webhook_receiver

from slipway.core.deliveries import Delivery, Outcome
from slipway.notify.deliveries import DeliveryLog
from slipway.store.database import open_store

WIDE = {"COLUMNS": "250"}


@pytest.fixture
def sims() -> Iterator[tuple[str, str]]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        yield blue, green


def gateway(tmp_path: Path, sims: tuple[str, str], notify: str) -> Iterator[Gateway]:
    config = routing_yaml(*sims, extra=textwrap.dedent(notify))
    with live_gateway(tmp_path, config, watch=False) as gw:
        yield gw


def deliveries(gw: Gateway, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """GET /admin/notifications once it lists `count` deliveries."""
    deadline = time.monotonic() + timeout
    while True:
        rows: list[dict[str, Any]] = httpx.get(f"{gw.url}/admin/notifications").json()["deliveries"]
        if len(rows) >= count:
            return rows
        assert time.monotonic() < deadline, rows
        time.sleep(0.05)


def act(gw: Gateway, path: str, body: dict[str, Any]) -> None:
    r = httpx.post(f"{gw.url}{path}", json=body, headers={"x-slipway-actor": "ann"}, timeout=30)
    assert r.status_code == 200, r.text


def test_a_sink_down_for_a_while_gets_every_notification_when_it_is_back_in_order(
    tmp_path: Path, sims: tuple[str, str]
) -> None:
    """retry_for keeps a refused notification going past `retries`; the ones after it wait their turn
    at that sink, while the other sink is not held up."""
    with webhook_receiver(fail_first=8) as hook, smtp_server() as box:
        notify = f"""\
            notify:
              webhooks: ["{hook.url}"]
              retries: 1
              backoff_s: 0.05
              retry_for: 1m
              email: {{host: 127.0.0.1, port: {box.port}, from: slipway@example.com,
                       to: [oncall@example.com], starttls: false}}
            """
        for gw in gateway(tmp_path, sims, notify):
            act(gw, "/admin/switch", {"to": "green", "reason": "try v2.2"})
            act(gw, "/admin/rollback", {"reason": "not yet"})
            rows = deliveries(gw, 6, timeout=60)
        hooks = [(r["event"], r["outcome"]) for r in rows if r["sink"].startswith("webhook ")]
        assert hooks == [
            ("route.rollback", "delivered"),
            ("route.switch", "delivered"),
            ("route.config", "delivered"),
        ]
        first = next(r for r in rows if r["sink"].startswith("webhook ") and r["event"] == "route.config")
        assert first["attempts"] == 9 and first["error"] == "HTTP 503", first
        # Each arrived once, in the order the changes were made; the mail server was never held up.
        events = [b["slipway"]["event"] for b in hook.bodies()]
        assert events == ["route.config", "route.switch", "route.rollback"], events
        assert len(box.messages()) == 3


def test_a_sink_that_was_down_and_recovered_shows_failed_then_delivered(
    tmp_path: Path, sims: tuple[str, str]
) -> None:
    # Given a webhook that fails its first three requests, and a mail server that works, one retry each
    # and no retrying on time (retry_for 0)
    with webhook_receiver(fail_first=3) as hook, smtp_server() as box:
        notify = f"""\
            notify:
              webhooks: ["{hook.url}"]
              retries: 1
              backoff_s: 0.05
              retry_for: 0s
              email: {{host: 127.0.0.1, port: {box.port}, from: slipway@example.com,
                       to: [oncall@example.com], starttls: false}}
            """
        for gw in gateway(tmp_path, sims, notify):
            # When the first routes are set (both tries fail), then ann switches (the retry gets through)
            # and rolls back (at once)
            deliveries(gw, 2)
            act(gw, "/admin/switch", {"to": "green", "reason": "try v2.2"})
            deliveries(gw, 4)
            act(gw, "/admin/rollback", {"reason": "not yet"})
            rows = deliveries(gw, 6)
            shown = run_cli(gw.url, ["notifications"], env=WIDE)
            as_json = run_cli(gw.url, ["notifications", "--json", "--limit", "2"])

        # Then each sink's outcome per notification is recorded, newest first
        hooks = [r for r in rows if r["sink"].startswith("webhook ")]
        mails = [r for r in rows if r["sink"].startswith("email ")]
        assert [(r["event"], r["outcome"], r["attempts"], r["error"]) for r in hooks] == [
            ("route.rollback", "delivered", 1, None),
            ("route.switch", "delivered", 2, "HTTP 503"),
            ("route.config", "failed", 2, "HTTP 503"),
        ]
        assert hooks[0]["sink"] == f"webhook {hook.url.rsplit('/', 1)[0]}/…"  # the host, never the path
        assert [(r["event"], r["outcome"], r["attempts"]) for r in mails] == [
            ("route.rollback", "delivered", 1), ("route.switch", "delivered", 1),
            ("route.config", "delivered", 1),
        ]  # fmt: skip
        assert mails[0]["sink"] == f"email 127.0.0.1:{box.port}"
        assert len(box.messages()) == 3 and len(hook.bodies()) == 2

        # And `slipway notifications` shows them as a table (and as JSON)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        failed = next(line for line in lines if "failed" in line)
        assert "route.config" in failed and "HTTP 503" in failed and "webhook http://127.0.0.1" in failed
        assert sum("delivered" in line for line in lines) == 5
        assert "rolled back by ann" in shown.stdout
        assert as_json.returncode == 0 and '"outcome": "delivered"' in as_json.stdout
        assert as_json.stdout.count('"sink"') == 2


def test_notify_test_says_what_each_sink_answered(tmp_path: Path, sims: tuple[str, str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"
    with webhook_receiver() as hook, smtp_server() as box:
        notify = f"""\
            notify:
              webhooks: ["{hook.url}", "{dead}"]
              retries: 0
              retry_for: 0s
              email: {{host: 127.0.0.1, port: {box.port}, from: slipway@example.com,
                       to: [oncall@example.com], starttls: false}}
            """
        for gw in gateway(tmp_path, sims, notify):
            # When the operator tests the sinks while one webhook's server is not there
            out = run_cli(gw.url, ["notify", "test"], env=WIDE)
            api = httpx.post(f"{gw.url}/admin/notify/test", json={}, headers={"x-slipway-actor": "ann"})
            rows = deliveries(gw, 9)  # the first routes' note and two tests, to three sinks each

        # Then each sink says what it answered, and the command fails because one did not
        assert out.returncode == 1, out.stdout + out.stderr
        lines = out.stdout.splitlines()
        assert any(
            "webhook http://127.0.0.1" in line and "HTTP 200" in line and "ok" in line for line in lines
        )
        assert any("FAILED" in line and "ConnectError" in line for line in lines), out.stdout
        assert any(f"email 127.0.0.1:{box.port}" in line and "250" in line for line in lines), out.stdout
        body = api.json()
        assert api.status_code == 200 and body["ok"] is False
        assert [s["ok"] for s in body["sinks"]] == [True, False, True]
        # And the test messages reached the sinks that work, and are recorded like any delivery
        hook.wait_for("notify.test")
        tested = [b["text"] for b in hook.bodies() if b["slipway"]["event"] == "notify.test"]
        assert len(tested) == 2 and tested[1].endswith("test notification from slipway, sent by ann")
        assert any("test notification from slipway" in m["Subject"] for m in box.messages())
        tests = [(r["sink"].split(" ")[0], r["outcome"]) for r in rows if r["event"] == "notify.test"]
        assert sorted(tests) == sorted(
            [("webhook", "delivered"), ("webhook", "failed"), ("email", "delivered")] * 2
        )


def test_notify_test_passes_when_every_sink_answers_and_fails_when_none_is_configured(
    tmp_path: Path, sims: tuple[str, str]
) -> None:
    (tmp_path / "one").mkdir()
    (tmp_path / "none").mkdir()
    with webhook_receiver() as hook:
        for gw in gateway(tmp_path / "one", sims, f'notify: {{webhooks: ["{hook.url}"]}}\n'):
            good = run_cli(gw.url, ["notify", "test"], env=WIDE)
    for gw in gateway(tmp_path / "none", sims, ""):
        none = run_cli(gw.url, ["notify", "test"], env=WIDE)
    assert good.returncode == 0 and "HTTP 200" in good.stdout, good.stdout + good.stderr
    assert none.returncode == 1 and "no notification sinks are configured" in none.stdout


async def test_a_store_outage_loses_delivery_records_counted_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'slipway.db'}")
    log = DeliveryLog()
    log.start(store)
    one = Delivery("webhook http://h/…", "route.switch", "switched", Outcome.DELIVERED, 1, None, time.time())
    log.record(one)
    await log.flush()
    assert [d.event for d in await store.list_deliveries(10)] == ["route.switch"]
    # When the store goes away, records are lost and counted, and the log says so once
    await store.close()
    with caplog.at_level(logging.ERROR, logger="slipway.notify"):
        for _ in range(3):
            log.record(one)
            await log.flush()  # never raises
    await log.close()
    assert (log.stats.written, log.stats.lost) == (1, 3)
    assert sum("not being recorded" in r.getMessage() for r in caplog.records) == 1
