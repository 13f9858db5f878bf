"""The daily summary arrives by mail and webhook once a day, naming the day's rollback, from one replica only.

Real parts: in-process gateways on SQLite, sim backends, an aiosmtpd server and
a webhook receiver on 127.0.0.1. The loops sleep on a clock the test moves; the
summary is due at 00:00 UTC, so it is due whenever the test runs, and "once"
is decided by the day recorded in the store, never by how long a test waits.
"""

from __future__ import annotations

import contextlib
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from tests.clock import ManualClock
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.smtp import smtp_server
from tests.webhooks import Hook, webhook_receiver

from slipway.app.daily import DailySummary


def notify_yaml(hook: Hook, smtp_port: int, daily: str | None) -> str:
    line = f'\n  daily_summary: "{daily}"' if daily else ""
    return (
        textwrap.dedent(
            f"""\
        notify:
          webhooks: ["{hook.url}"]
          retries: 1
          backoff_s: 0.05
          email: {{host: 127.0.0.1, port: {smtp_port}, from: slipway@example.com,
                   to: [oncall@example.com], starttls: false}}"""
        )
        + line
        + "\n"
    )


def daily(gw: Gateway) -> DailySummary:
    loop = gw.runtime._daily
    assert loop is not None
    return loop


def until(check: Callable[[], bool], what: str, clock: ManualClock, timeout: float = 60.0) -> None:
    """Poll `check`, moving the loops' clock past their idle poll each time."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        clock.advance(DailySummary.IDLE_POLL_S + 1)
        time.sleep(0.05)


def summaries(hook: Hook) -> list[dict[str, Any]]:
    return [b for b in hook.bodies() if b.get("slipway", {}).get("event") == "summary.daily"]


def act(gw: Gateway, path: str, body: dict[str, Any]) -> None:
    r = httpx.post(f"{gw.url}{path}", json=body, headers={"x-slipway-actor": "ann"}, timeout=30)
    assert r.status_code == 200, r.text


def test_the_summary_arrives_once_by_mail_and_webhook_naming_the_days_rollback(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
        smtp_server() as box,
    ):
        routes = routing_yaml(blue, green)
        with live_gateway(
            tmp_path, routes + notify_yaml(hook, box.port, None), watch=False, clock=clock
        ) as gw:
            act(gw, "/admin/switch", {"to": "green", "reason": "try v2.2"})
            act(gw, "/admin/rollback", {"reason": "refunds answered wrongly"})
            # The summary is turned on after the day's events: the next wake sends it.
            gw.config_path.write_text(routes + notify_yaml(hook, box.port, "00:00"))
            act(gw, "/admin/reload", {})
            loop = daily(gw)
            until(lambda: loop.sent >= 1, "the daily summary", clock)
            body = hook.wait_for("summary.daily", timeout=30)
            text = body["text"] + str(body)
            assert "refunds answered wrongly" in text
            assert "manual rollback" in text
            # Later wakes the same day send nothing more.
            wakes = loop.wakes
            until(lambda: loop.wakes >= wakes + 3, "three more wakes", clock)
            assert loop.sent == 1
            assert len(summaries(hook)) == 1
            assert box.wait_for(2, timeout=30)  # the switch's and the rollback's mails


def test_the_summary_is_mailed(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
        smtp_server() as box,
    ):
        routes = routing_yaml(blue, green)
        with live_gateway(
            tmp_path, routes + notify_yaml(hook, box.port, None), watch=False, clock=clock
        ) as gw:
            act(gw, "/admin/rollback", {"reason": "refunds answered wrongly"})
            gw.config_path.write_text(routes + notify_yaml(hook, box.port, "00:00"))
            act(gw, "/admin/reload", {})
            loop = daily(gw)
            until(lambda: loop.sent >= 1, "the daily summary", clock)
            deadline = time.monotonic() + 30
            while not [m for m in box.messages() if "daily summary" in str(m["Subject"])]:
                assert time.monotonic() < deadline, "no summary mail"
                time.sleep(0.05)


def test_two_gateways_on_one_store_send_it_once_even_when_the_leader_changes(tmp_path: Path) -> None:
    clock = ManualClock(start=time.time())
    store = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
        smtp_server() as box,
    ):
        config = routing_yaml(blue, green) + notify_yaml(hook, box.port, "00:00")
        with contextlib.ExitStack() as b_stack:
            with live_gateway(tmp_path / "a", config, store_url=store, watch=False, clock=clock) as a:
                b = b_stack.enter_context(
                    live_gateway(tmp_path / "b", config, store_url=store, watch=False, clock=clock)
                )
                until(lambda: daily(a).sent + daily(b).sent >= 1, "the daily summary", clock)
                hook.wait_for("summary.daily", timeout=30)
            # A stopped; B takes over the loops, finds the day sent, and sends nothing.
            until(lambda: daily(b).running and daily(b).wakes >= 3, "B leading and waking", clock)
            assert len(summaries(hook)) == 1, [s["text"] for s in summaries(hook)]
            assert daily(b).sent == 0 or daily(a).sent == 0
