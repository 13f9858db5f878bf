"""Notifications a sink had not received when slipway stopped are delivered after the next start.

A rolling restart during a Slack outage must not lose the rollback message.
Real parts: the in-process gateway on its SQLite store (stopped and started
again on the same file), sim backends, a webhook receiver that is down.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import httpx
from tests.harness import live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import webhook_receiver

from slipway.store.database import open_store


def events(bodies: list[dict[str, object]]) -> list[str]:
    return [str(b["slipway"]["event"]) for b in bodies]  # type: ignore[index]


def wait_for_events(hook: object, want: list[str], timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        got = events(hook.bodies())  # type: ignore[attr-defined]
        if got[: len(want)] == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


async def test_what_a_down_sink_missed_before_a_restart_arrives_after_it_in_order(tmp_path: Path) -> None:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
    ):
        notify = f"""\
            notify:
              webhooks: ["{hook.url}"]
              retries: 1
              backoff_s: 0.05
              retry_for: 1h
            """
        config = routing_yaml(blue, green, extra=textwrap.dedent(notify))
        hook.down = True
        with live_gateway(tmp_path, config, watch=False) as gw:
            for body in ({"to": "green", "reason": "try v2.2"},):
                r = httpx.post(f"{gw.url}/admin/switch", json=body, headers={"x-slipway-actor": "ann"})
                assert r.status_code == 200, r.text
            r = httpx.post(
                f"{gw.url}/admin/rollback", json={"reason": "billing"}, headers={"x-slipway-actor": "ann"}
            )
            assert r.status_code == 200, r.text
        assert hook.bodies() == []
        # Stopped while the sink was down: what it missed is in the store, not in a lost queue.
        store = await open_store(f"sqlite:///{tmp_path / 'state' / 'slipway.db'}")
        try:
            kept = await store.take_meta("notify_pending:")
            assert len(kept) == 1, kept
            (raw,) = kept.values()
            await store.set_meta(next(iter(kept)), raw)  # put it back for the next start
        finally:
            await store.close()
        hook.down = False
        with live_gateway(tmp_path, config, watch=False):
            got = wait_for_events(hook, ["route.config", "route.switch", "route.rollback"])
            assert got == ["route.config", "route.switch", "route.rollback"], got
        store = await open_store(f"sqlite:///{tmp_path / 'state' / 'slipway.db'}")
        try:
            assert await store.take_meta("notify_pending:") == {}
        finally:
            await store.close()
