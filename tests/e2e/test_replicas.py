"""Several `slipway serve` replicas on one PostgreSQL store route as one.

Real processes, a real PostgreSQL, simulated backends on loopback. A route
change sent to one replica must be what every replica serves: within
milliseconds through notifications, within the poll interval without them,
and again after PostgreSQL cut the listener's connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy import make_url
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
