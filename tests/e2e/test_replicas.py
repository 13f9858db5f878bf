"""Several `slipway serve` replicas on one PostgreSQL store route as one.

Real processes, a real PostgreSQL, simulated backends on loopback. A route
change sent to one replica must be what every replica serves: within
milliseconds through notifications, within the poll interval without them,
and again after PostgreSQL cut the listener's connection.
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import make_url
from tests.e2e.canary_story import traffic
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.pg import fresh_schema
from tests.processes import ServeProcess, admin_status, run_cli, slipway_serve, wait_for_status

pytestmark = pytest.mark.postgres

HTTP = 30.0


@contextlib.contextmanager
def two_replicas(
    tmp_path: Path, postgres_url: str, *, b_args: tuple[str, ...] = ()
) -> Iterator[tuple[ServeProcess, ServeProcess, str]]:
    """Replicas A and B of one gateway (green, v2.2, active) on one fresh PostgreSQL schema."""
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        args = ["--config", "slipway.yaml", "--store", store]
        with (
            slipway_serve(tmp_path, args) as a,
            slipway_serve(tmp_path, [*args, *b_args]) as b,
        ):
            yield a, b, store


def served_by(url: str, n: int = 10) -> set[str]:
    """Which slots answered `n` requests sent to this replica."""
    slots = set()
    for i in range(n):
        r = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "customer-support", "messages": [{"role": "user", "content": f"refund {i}"}]},
            timeout=HTTP,
        )
        assert r.status_code == 200, r.text
        slots.add(r.headers["x-slipway-slot"])
    return slots


def rollback_via(replica: ServeProcess) -> int:
    """`slipway rollback` sent to one replica; the route version it committed."""
    done = run_cli(replica.url, ["rollback", "--reason", "billing accuracy fell"])
    assert done.returncode == 0, done.stdout + done.stderr
    version: int = admin_status(replica.url)["route"]["version"]
    return version


def all_on(slot: str) -> Callable[[dict[str, Any]], bool]:
    """All traffic on `slot`, no split."""
    return lambda st: (st["route"]["active"], st["route"]["weights_pct"]) == (slot, {})


def on_blue_at(version: int) -> Callable[[dict[str, Any]], bool]:
    return lambda st: st["route"]["active"] == "blue" and st["route"]["version"] >= version


def test_a_rollback_sent_to_one_replica_is_served_by_the_other(tmp_path: Path, postgres_url: str) -> None:
    with two_replicas(tmp_path, postgres_url) as (a, b, _store):
        assert served_by(b.url) == {"green"}
        version = rollback_via(a)
        st = wait_for_status(b.url, on_blue_at(version), "replica B on blue after A's rollback", 15)
        assert st["route_feed"]["listening"] is True and st["route_feed"]["notified"] >= 1, st["route_feed"]
        assert served_by(b.url) == {"blue"}
        history = httpx.get(f"{b.url}/admin/history", timeout=HTTP).json()["changes"]
        assert history[0]["kind"] == "rollback" and history[0]["reason"] == "billing accuracy fell"
        # The second replica started with the same file: it wrote nothing of its own.
        assert [c["kind"] for c in history] == ["rollback", "init"]


def test_without_notifications_a_replica_follows_by_polling(tmp_path: Path, postgres_url: str) -> None:
    poll = ("--no-route-notify", "--route-poll", "0.2")
    with two_replicas(tmp_path, postgres_url, b_args=poll) as (a, b, _store):
        version = rollback_via(a)
        st = wait_for_status(b.url, on_blue_at(version), "replica B on blue by polling", 15)
        assert st["route_feed"]["listening"] is False and st["route_feed"]["notified"] == 0
        assert st["route_feed"]["polled"] >= 2, st["route_feed"]  # the first table, then the rollback
        assert served_by(b.url) == {"blue"}


def test_a_listener_cut_by_postgresql_connects_again_and_changes_still_arrive(
    tmp_path: Path, postgres_url: str
) -> None:
    with two_replicas(tmp_path, postgres_url, b_args=("--route-poll", "30")) as (a, b, store):
        wait_for_status(b.url, lambda st: st["route_feed"]["listening"], "B listening", 15)
        url = make_url(store)
        conninfo = f"host={url.host} port={url.port} user={url.username} dbname={url.database}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'slipway-route-listener'"
            ).fetchone()
        assert cut is not None and cut[0] >= 2  # both replicas' listeners (other tests' too, maybe)
        wait_for_status(b.url, lambda st: st["route_feed"]["connects"] >= 2, "B's listener back", 30)
        version = rollback_via(a)
        # The poll is 30 s: only a notification on the new connection brings this in time.
        st = wait_for_status(b.url, on_blue_at(version), "B on blue through the new listener", 15)
        assert st["route_feed"]["notified"] >= 1 and st["route_feed"]["errors"] >= 1, st["route_feed"]


def test_a_second_serve_on_a_taken_port_changes_nothing(tmp_path: Path) -> None:
    """Started by mistake in the same directory with another file: refused before it touches the store."""
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        (tmp_path / "other.yaml").write_text(routing_yaml(blue, green, active="blue"))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as first:
            port = first.url.rsplit(":", 1)[1]
            second = run_cli(None, ["serve", "--config", "other.yaml", "--port", port], cwd=tmp_path)
            assert second.returncode == 2, second.stdout + second.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in second.stdout + second.stderr
            assert "nothing was started or changed" in second.stdout + second.stderr
            history = httpx.get(f"{first.url}/admin/history", timeout=HTTP).json()["changes"]
            assert [c["kind"] for c in history] == ["init"]
            assert run_cli(first.url, ["rollback"]).returncode == 0  # its routes are still its own
            assert served_by(first.url) == {"blue"}


def test_a_replica_started_with_other_routes_serves_the_stores_until_asked(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "a.yaml").write_text(routing_yaml(blue, green, active="green"))
        (tmp_path / "b.yaml").write_text(routing_yaml(blue, green, active="blue"))
        with slipway_serve(tmp_path, ["--config", "a.yaml", "--store", store]) as a:
            with slipway_serve(tmp_path, ["--config", "b.yaml", "--store", store]) as b:
                st = admin_status(b.url)
                assert st["route"]["active"] == "green" and st["route"]["version"] == 1
                assert "active slot green -> blue" in st["config"]["not_applied"], st["config"]
                assert "slipway reload" in st["config"]["not_applied"]
                assert served_by(a.url) == served_by(b.url) == {"green"}
                assert "routes differ from the ones the store holds" in b.log()
                status_text = run_cli(b.url, ["status"]).stdout
                assert "config file not applied" in status_text, status_text
                # Asked on purpose: the file is applied, and every replica follows.
                assert run_cli(b.url, ["reload"]).returncode == 0
                wait_for_status(a.url, lambda s: s["route"]["active"] == "blue", "A follows B's reload", 15)
                assert admin_status(b.url)["config"]["not_applied"] is None
            # --apply-config: the file wins at start.
            (tmp_path / "c.yaml").write_text(routing_yaml(blue, green, active="green"))
            with slipway_serve(tmp_path, ["--config", "c.yaml", "--store", store, "--apply-config"]) as c:
                assert admin_status(c.url)["route"]["active"] == "green"
                wait_for_status(a.url, lambda s: s["route"]["active"] == "green", "A follows C's start", 15)


SCALE = 600  # the canary's drill clock: ten minutes a second (both replicas share its anchor)
HOLD = "canary:\n  inconclusive: hold\n"


def leader_of(url: str) -> dict[str, Any]:
    replicas: dict[str, Any] = admin_status(url)["replicas"]
    return replicas


def canary_of(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/admin/canary", timeout=HTTP).json()["canary"]
    return data


def wait_canary(
    url: str, what: str, ok: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        canary = canary_of(url)
        if ok(canary):
            return canary
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {timeout:g} s (a failure guard): {what}; last: {canary}")
        time.sleep(0.1)


async def test_one_leader_judges_a_canary_started_through_a_follower_and_another_takes_over_after_kill_9(
    tmp_path: Path, postgres_url: str
) -> None:
    env = {"SLIPWAY_CLOCK_SCALE": str(SCALE), "SLIPWAY_CLOCK_ANCHOR": repr(time.time())}
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, extra=HOLD))
        args = ["--config", "slipway.yaml", "--store", store]
        with slipway_serve(tmp_path, args, env=env) as a, slipway_serve(tmp_path, args, env=env) as b:
            # One leader, the same in both views: the first to start.
            seen = wait_for_status(
                b.url, lambda s: len(s["replicas"]["live"]) == 2, "both replicas beating", 30
            )["replicas"]
            assert seen["leader"]["this_replica"] is False
            assert leader_of(a.url)["leader"]["this_replica"] is True
            assert seen["leader"]["id"] == leader_of(a.url)["this"]
            assert sum(r["leader"] for r in seen["live"]) == 1

            # A canary started through the follower: both replicas serve its split at once.
            out = run_cli(
                b.url,
                ["deploy", "v2.2", "--strategy", "canary", "--slot", "green", "--no-smoke",
                 "--steps", "10%:2h,50%:8h,100%", "--interval", "15m"],
            )  # fmt: skip
            assert out.returncode == 0, out.stdout + out.stderr
            split = {"blue": 90, "green": 10}
            wait_for_status(a.url, lambda s: s["route"]["weights_pct"] == split, "A serves the split", 15)
            assert admin_status(b.url)["route"]["weights_pct"] == split

            # The leader judges it (the follower never marks it superseded) and steps it to 50 %.
            await traffic(a.url, 600)
            await traffic(b.url, 600)
            moved = wait_canary(a.url, "phase 2", lambda c: c["phase"] == 2 or c["status"] != "running")
            assert (moved["status"], moved["weight_pct"]) == ("running", 50), moved
            wait_for_status(
                b.url, lambda s: s["route"]["weights_pct"] == {"blue": 50, "green": 50}, "B at 50 %", 15
            )

            # kill -9 the leader in the middle of the phase: the follower takes over.
            looks = canary_of(b.url)["looks"]
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(10)
            wait_for_status(b.url, lambda s: s["replicas"]["leader"]["this_replica"], "B leads", 30)
            # ...and its loop carries on from the stored state: same phase, more checks.
            after = wait_canary(b.url, "a check by the new leader", lambda c: c["looks"] > looks)
            assert (after["status"], after["phase"], after["weight_pct"]) == ("running", 2, 50), after
            events = httpx.get(f"{b.url}/admin/canary", params={"events": 1000}, timeout=HTTP).json()[
                "events"
            ]
            # Nothing moved its routes behind its back: no follower ended it, no replica fought over it.
            assert not [e for e in events if e["kind"] == "routes"], events
            done = run_cli(b.url, ["rollback", "--reason", "drill over"])
            assert done.returncode == 0, done.stdout + done.stderr
            assert canary_of(b.url)["status"] == "rolled_back"


def test_two_replicas_racing_rollbacks_leave_one_consistent_history(
    tmp_path: Path, postgres_url: str
) -> None:
    with two_replicas(tmp_path, postgres_url) as (a, b, _store):
        with httpx.Client(timeout=HTTP) as client, ThreadPoolExecutor(2) as pool:
            for _ in range(50):
                answers = list(
                    pool.map(lambda url: client.post(f"{url}/admin/rollback", json={}), (a.url, b.url))
                )
                assert all(r.status_code in (200, 409) for r in answers), [r.text for r in answers]
        history = httpx.get(f"{a.url}/admin/history", params={"limit": 500}, timeout=HTTP).json()["changes"]
        chain = history[::-1]
        assert [c["version"] for c in chain] == list(range(1, len(chain) + 1))
        for before, change in itertools.pairwise(chain):
            assert change["from_active"] == before["to_active"], (before, change)
        final = chain[-1]
        for replica in (a, b):
            wait_for_status(
                replica.url,
                lambda s: (
                    (s["route"]["version"], s["route"]["active"]) == (final["version"], final["to_active"])
                ),
                "every replica on the last change",
                15,
            )


def test_two_replicas_racing_promote_and_abort_leave_each_canary_in_one_consistent_end(
    tmp_path: Path, postgres_url: str
) -> None:
    """50 canaries; each is promoted through one replica and aborted through the other at once."""
    with two_replicas(tmp_path, postgres_url) as (a, b, _store):
        with httpx.Client(timeout=HTTP) as client, ThreadPoolExecutor(2) as pool:
            for i in range(50):
                standby = next(s["name"] for s in admin_status(a.url)["slots"] if s["state"] == "standby")
                deploy = {"version": f"v3.{i}", "strategy": "canary", "slot": standby, "no_smoke": True,
                          "steps": "10%:1h,100%", "interval": "15m"}  # fmt: skip
                started = client.post(f"{a.url}/admin/deploy", json=deploy)
                assert started.status_code == 200, started.text
                race = [(a.url, "promote"), (b.url, "abort")][:: 1 if i % 2 else -1]
                answers = list(
                    pool.map(lambda call: client.post(f"{call[0]}/admin/canary/{call[1]}", json={}), race)
                )
                assert all(r.status_code in (200, 409) for r in answers), [r.text for r in answers]
                assert any(r.status_code == 200 for r in answers), [r.text for r in answers]
                canary = canary_of(b.url)
                # Promoted; or aborted; or promoted and then, the abort arriving second, rolled back.
                ends = ("promoted", "aborted", "rolled_back")
                assert canary["version"] == f"v3.{i}" and canary["status"] in ends, canary
                # The routes say the same as the canary's end, on both replicas.
                wanted = standby if canary["status"] == "promoted" else canary["baseline"]
                for replica in (a, b):
                    wait_for_status(
                        replica.url,
                        all_on(wanted),
                        f"canary {i} ended {canary['status']} on {replica.url}",
                        15,
                    )
        history = httpx.get(f"{a.url}/admin/history", params={"limit": 1000}, timeout=HTTP).json()["changes"]
        chain = history[::-1]
        assert [c["version"] for c in chain] == list(range(1, len(chain) + 1))
        for before, change in itertools.pairwise(chain):
            assert change["from_active"] == before["to_active"], (before, change)


def test_feedback_sent_to_the_other_replica_at_once_finds_its_request(
    tmp_path: Path, postgres_url: str
) -> None:
    """A load balancer may send the feedback to a replica that did not answer, before the answer's
    record is written: it waits for the other replica's batch instead of saying the id is unknown.
    An id no replica answered is still refused."""
    with two_replicas(tmp_path, postgres_url) as (a, b, _store):
        for i in range(5):
            answer = httpx.post(
                f"{a.url}/v1/chat/completions",
                json={"model": "customer-support", "messages": [{"role": "user", "content": f"invoice {i}"}]},
                timeout=HTTP,
            )
            assert answer.status_code == 200, answer.text
            request_id = answer.headers["x-slipway-request-id"]
            told = httpx.post(
                f"{b.url}/v1/feedback", json={"request_id": request_id, "label": "billing"}, timeout=HTTP
            )
            assert told.status_code == 200, told.text
            record = httpx.get(f"{b.url}/admin/requests/{request_id}", timeout=HTTP).json()
            assert record["feedback"]["label"] == "billing", record
        unknown = httpx.post(
            f"{b.url}/v1/feedback", json={"request_id": "f" * 24, "satisfied": True}, timeout=HTTP
        )
        assert unknown.status_code == 404, unknown.text


def test_a_pause_sent_to_a_follower_wakes_the_leaders_loops(tmp_path: Path, postgres_url: str) -> None:
    """The follower saves the pause itself; the leader hears of it from the store at once instead of
    at its next scheduled check, and both replicas report the canary paused."""
    with two_replicas(tmp_path, postgres_url) as (a, b, _store):
        wait_for_status(b.url, lambda s: len(s["replicas"]["live"]) == 2, "both replicas beating", 30)
        assert leader_of(a.url)["leader"]["this_replica"] is True
        out = run_cli(
            b.url,
            [
                "deploy",
                "v2.1",
                "--strategy",
                "canary",
                "--slot",
                "blue",
                "--no-smoke",
                "--steps",
                "10%:2h,100%",
            ],
        )
        assert out.returncode == 0, out.stdout + out.stderr
        woken = admin_status(a.url)["route_feed"]["rollout_changes"]
        paused = run_cli(b.url, ["canary", "pause", "--reason", "looking at billing"])
        assert paused.returncode == 0, paused.stdout + paused.stderr
        wait_for_status(
            a.url, lambda s: s["route_feed"]["rollout_changes"] > woken, "the leader hears of the pause", 15
        )
        assert canary_of(a.url)["status"] == "paused"
        resumed = run_cli(b.url, ["canary", "resume"])
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert wait_canary(a.url, "running again", lambda c: c["status"] == "running")["weight_pct"] == 10
