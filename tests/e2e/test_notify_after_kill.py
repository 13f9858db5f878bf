"""A `slipway serve` killed with `kill -9` while its webhook is down loses no notification.

The replica keeps what its sinks have not received in the store while it
runs; once its heartbeat goes silent, another replica takes that set over and
delivers it: a new one started on the same store, or one already running
beside it (without a restart). A replica that still beats is never robbed.

Real parts: `slipway serve` processes on loopback, a real SQLite file or a
real PostgreSQL schema, a real webhook receiver that answers 503 while down.
Every wait is an outcome polled for with a generous guard, never a timing.
"""

from __future__ import annotations

import json
import signal
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.pg import fresh_schema
from tests.processes import ServeProcess, run_cli, slipway_serve
from tests.webhooks import Hook, webhook_receiver

from slipway.app.replica import LIVE_WITHIN_S

PREFIX = "notify_pending:"
#: A guard against a hang: the liveness window, a takeover round, a delivery, with room to spare.
WAIT_S = 60.0


def kept_sets(store_url: str) -> dict[str, str]:
    """The kept sets in the store, by key (read as an operator's SQL client would)."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, value FROM meta WHERE key LIKE 'notify_pending:%'"))
            return {str(k): str(v) for k, v in rows}
    finally:
        engine.dispose()


def port_of(replica: ServeProcess) -> str:
    return replica.url.rsplit(":", 1)[1]


def kept_rollback(store_url: str, replica: ServeProcess) -> tuple[str, str]:
    """Wait until `replica` keeps a route.rollback in the store: its key and the title kept."""
    deadline = time.monotonic() + WAIT_S
    while True:
        for key, raw in kept_sets(store_url).items():
            if f":{port_of(replica)}:" not in key:
                continue
            hooks = json.loads(raw)["webhooks"]
            titles = [n["title"] for notes in hooks.values() for n in notes if n["event"] == "route.rollback"]
            if titles:
                return key, titles[0]
        assert time.monotonic() < deadline, f"no kept route.rollback: {kept_sets(store_url)}"
        time.sleep(0.1)


def rollback_titles(hook: Hook) -> list[str]:
    return [str(b["slipway"]["title"]) for b in hook.bodies() if b["slipway"]["event"] == "route.rollback"]


def wait_delivered(hook: Hook, store_url: str) -> list[str]:
    """Once a route.rollback arrived and no kept set is left: the rollback titles the hook got."""
    deadline = time.monotonic() + WAIT_S
    while not (rollback_titles(hook) and not kept_sets(store_url)):
        assert time.monotonic() < deadline, (rollback_titles(hook), kept_sets(store_url))
        time.sleep(0.1)
    return rollback_titles(hook)


def kill_9(replica: ServeProcess) -> None:
    replica.proc.send_signal(signal.SIGKILL)
    replica.proc.wait(15)


def config(blue: str, green: str, hook: Hook) -> str:
    notify = f"""\
        notify:
          webhooks: ["{hook.url}"]
          retries: 1
          backoff_s: 0.05
          retry_for: 1h
        """
    return routing_yaml(blue, green, active="green", extra=textwrap.dedent(notify))


def test_a_rollback_alert_a_killed_serve_could_not_send_reaches_the_sink_through_the_next_one(
    tmp_path: Path,
) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        webhook_receiver() as hook,
    ):
        (tmp_path / "slipway.yaml").write_text(config(blue, green, hook))
        args = ["--config", "slipway.yaml", "--store", store]
        hook.down = True
        with slipway_serve(tmp_path, args) as a:
            done = run_cli(a.url, ["rollback", "--reason", "billing accuracy fell"])
            assert done.returncode == 0, done.stdout + done.stderr
            key, title = kept_rollback(store, a)
            kill_9(a)  # no clean stop: only what it kept while running survives
        assert hook.bodies() == []
        assert key in kept_sets(store)
        hook.down = False
        with slipway_serve(tmp_path, args) as b:
            assert wait_delivered(hook, store) == [title], b.log()
            assert f"kept by replica {key.removeprefix(PREFIX)}" in b.log()


@pytest.mark.postgres
def test_a_survivor_delivers_what_a_killed_replica_kept_and_never_takes_it_while_that_one_beats(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        webhook_receiver() as hook,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "slipway.yaml").write_text(config(blue, green, hook))
        args = ["--config", "slipway.yaml", "--store", store]
        hook.down = True
        with slipway_serve(tmp_path, args) as a, slipway_serve(tmp_path, args) as b:
            done = run_cli(a.url, ["rollback", "--reason", "billing accuracy fell"])
            assert done.returncode == 0, done.stdout + done.stderr
            key, title = kept_rollback(store, a)
            # B looks for silent replicas' sets every half window: two rounds while A beats.
            time.sleep(LIVE_WITHIN_S + 1)
            assert key in kept_sets(store), "B took the set of a replica that still beats"
            assert f"kept by replica {key.removeprefix(PREFIX)}" not in b.log()
            kill_9(a)
            hook.down = False
            # No restart: B takes A's set once A's heartbeat is older than the window.
            assert wait_delivered(hook, store) == [title], b.log()
            assert f"kept by replica {key.removeprefix(PREFIX)}" in b.log()
