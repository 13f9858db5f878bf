"""`slipway serve --workers N`: N gateway processes on one port, each a replica of its own.

Real processes on loopback with simulated backends. The workers share the
parent's socket; every one answers, one leads, a route change sent through
the port is served by all, a stop signal stops them all, and a worker killed
with SIGKILL is started again while the port keeps answering. No assertion
here measures time: waits only have generous guards against hanging.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.pg import fresh_schema
from tests.processes import ServeProcess, admin_status, free_port, run_cli, slipway_serve, wait_for_status

from slipway.app.workers import Supervisor

HTTP = 30.0
#: A failure guard for waits, never a measure.
GUARD_S = 60.0


@contextlib.contextmanager
def workers(tmp_path: Path, n: int = 2, store: str | None = None) -> Iterator[ServeProcess]:
    """`slipway serve --workers n` on green (v2.2, active), once every worker beats on the store."""
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        args = ["--config", "slipway.yaml", "--workers", str(n), "--route-poll", "0.2"]
        args += ["--store", store] if store is not None else []
        with slipway_serve(tmp_path, args) as gw:
            wait_for_status(gw.url, lambda st: len(live(st)) == n, f"{n} live replicas", GUARD_S)
            yield gw


def live(st: dict[str, Any]) -> list[dict[str, Any]]:
    replicas = st.get("replicas") or {}
    beats: list[dict[str, Any]] = replicas.get("live", [])
    return beats


def answers_until(url: str, done: Callable[[dict[str, dict[str, Any]]], bool], what: str) -> dict[str, Any]:
    """Status from new connections (each lands on any worker), by replica id, until `done` holds."""
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + GUARD_S
    while not done(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen within {GUARD_S:g} s: {what}; answers: {list(seen)}")
        st = admin_status(url)  # a new client, so a new connection
        seen[st["replicas"]["this"]] = st
    return seen


def chat(url: str, text: str) -> httpx.Response:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "customer-support", "messages": [{"role": "user", "content": text}]},
        timeout=HTTP,
    )
    assert r.status_code == 200, r.text
    return r


def one_leader(st: dict[str, Any]) -> bool:
    return [b["leader"] for b in live(st)].count(True) == 1


def assert_two_workers_route_as_one(gw: ServeProcess) -> None:
    """Both workers answer on the port, one leads, and a rollback through the port reaches both."""
    st = wait_for_status(gw.url, one_leader, "one leader among the workers", GUARD_S)
    ids = {b["id"] for b in live(st)}
    pids = {b["pid"] for b in live(st)}
    assert len(pids) == 2 and gw.proc.pid not in pids, st["replicas"]  # the parent serves nothing
    assert st["replicas"]["leader"]["id"] in ids
    before = answers_until(gw.url, lambda seen: set(seen) == ids, "both workers answering on the port")
    assert {a["route"]["version"] for a in before.values()} == {1}
    assert {chat(gw.url, f"refund {i}").headers["x-slipway-slot"] for i in range(10)} == {"green"}

    done = run_cli(gw.url, ["rollback", "--reason", "billing accuracy fell"])
    assert done.returncode == 0, done.stdout + done.stderr
    version = 2  # the rollback's, whichever worker took it: the next after the file's first table

    def both_on_blue(seen: dict[str, dict[str, Any]]) -> bool:
        on_blue = {
            rid
            for rid, s in seen.items()
            if s["route"]["active"] == "blue" and s["route"]["version"] >= version
        }
        return on_blue == ids

    answers = answers_until(gw.url, both_on_blue, "both workers serving the rollback")
    assert {a["route"]["version"] for a in answers.values()} == {version}
    assert {chat(gw.url, f"refund {i}").headers["x-slipway-slot"] for i in range(10)} == {"blue"}
    history = httpx.get(f"{gw.url}/admin/history", timeout=HTTP).json()["changes"]
    # Worker 1 applied the file to the empty store; worker 2 started on the store's routes.
    assert [c["kind"] for c in history] == ["rollback", "init"]


def test_two_workers_on_sqlite_share_the_port_elect_one_leader_and_follow_a_rollback(
    tmp_path: Path,
) -> None:
    with workers(tmp_path) as gw:
        assert_two_workers_route_as_one(gw)
        log = gw.log()
        assert "[w1]" in log and "[w2]" in log and "[main]" in log, log
        # Each worker keeps its own record of how it stopped: none reads another's as a crash.
        assert "did not stop cleanly" not in log, log
        recorders = {admin_status(gw.url)["recorder"].get("previous_run") is None for _ in range(4)}
        assert recorders == {True}, log


@pytest.mark.postgres
def test_two_workers_on_postgresql_share_the_port_elect_one_leader_and_follow_a_rollback(
    tmp_path: Path, postgres_url: str
) -> None:
    with fresh_schema(postgres_url) as store, workers(tmp_path, store=store) as gw:
        assert_two_workers_route_as_one(gw)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_stops_every_worker_and_the_parent_exits_0(
    tmp_path: Path, stop: signal.Signals
) -> None:
    with workers(tmp_path) as gw:
        pids = {b["pid"] for b in live(admin_status(gw.url))}
        gw.proc.send_signal(stop)
        assert gw.proc.wait(GUARD_S) == 0, gw.log()
        for pid in pids:
            assert not alive(pid), f"worker pid {pid} outlived its parent:\n{gw.log()}"
        log = gw.log()
        assert "all workers stopped cleanly" in log, log
        assert "Traceback" not in log, log


def test_a_worker_killed_with_sigkill_is_started_again_and_the_port_keeps_answering(
    tmp_path: Path,
) -> None:
    with workers(tmp_path) as gw:
        st = wait_for_status(gw.url, one_leader, "one leader among the workers", GUARD_S)
        before = {b["pid"]: b["id"] for b in live(st)}
        # The leader: its successor must take office too.
        victim = next(b["pid"] for b in live(st) if b["leader"])
        os.kill(victim, signal.SIGKILL)

        def new_worker_answers(seen: dict[str, dict[str, Any]]) -> bool:
            return any(int(rid.split(":")[2]) not in before for rid in seen)

        # Every status asked on the way answered 200 (admin_status insists): the port kept answering.
        answers = answers_until(gw.url, new_worker_answers, "the restarted worker answering")
        assert before[victim] not in answers
        st = wait_for_status(
            gw.url,
            lambda s: one_leader(s) and victim not in {b["pid"] for b in live(s)},
            "one leader again, and the killed worker gone from the live list",
            GUARD_S,
        )
        assert len(live(st)) == 2, st["replicas"]
        assert chat(gw.url, "refund please").headers["x-slipway-slot"] == "green"
        log = gw.log()
        assert f"(pid {victim}) was killed by SIGKILL unexpectedly; starting it again" in log, log
        assert gw.proc.poll() is None


def test_workers_refuse_a_config_that_runs_engines_before_touching_the_store(tmp_path: Path) -> None:
    (tmp_path / "slipway.yaml").write_text(
        "name: customer-support\n"
        "engines:\n"
        "  support: {base: models/base.gguf, adapters: [models/v2.1.gguf]}\n"
        "active_slot: blue\n"
        "slots:\n"
        "  blue: {model: customer-support-v2.1, engine: support, adapter: v2.1}\n"
    )
    args = ["serve", "--workers", "2", "--config", "slipway.yaml", "--port", str(free_port())]
    done = run_cli(None, args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    err = " ".join(done.stderr.split())
    assert "runs engines" in err and "support" in err, err
    assert "every worker would start its own copy" in err and "--workers 1" in err, err
    assert not (tmp_path / ".slipway" / "slipway.db").exists()


def test_workers_on_a_taken_port_refuse_before_touching_the_store(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        (tmp_path / "slipway.yaml").write_text(routing_yaml("http://127.0.0.1:9", "http://127.0.0.1:9"))
        args = ["serve", "--workers", "2", "--config", "slipway.yaml", "--port", str(port)]
        done = run_cli(None, args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "cannot listen" in done.stderr and "nothing was started or changed" in done.stderr, done.stderr
    assert not (tmp_path / ".slipway" / "slipway.db").exists()


def test_a_first_start_that_fails_is_reported_once_and_starts_no_other_worker(tmp_path: Path) -> None:
    # No config file and an empty store: there are no routes to serve.
    done = run_cli(None, ["serve", "--workers", "3", "--port", str(free_port())], cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    out = " ".join((done.stdout + done.stderr).split())
    assert out.count("did not start: no routes") == 1, out
    assert "worker 1 of 3 did not start" in out and "no other worker was started" in out, out
    assert "[w2]" not in out and "[w3]" not in out and "Traceback" not in out, out


def test_a_crash_loop_gives_up_with_a_clear_error_and_a_non_zero_status(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Workers that serve, then die at once, every time: the parent stops restarting them."""
    crash = "import os, sys; os.write(int(sys.argv[1]), b'1'); sys.exit(3)"
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        supervisor = Supervisor(
            listener, 2, lambda spec: [sys.executable, "-c", crash, str(spec.ready_fd)], max_restarts=3
        )
        with caplog.at_level(logging.INFO, logger="slipway.workers"):
            assert supervisor.run() == 1
    text = caplog.text
    assert text.count("exited with status 3 unexpectedly; starting it again") == 3, text
    assert "more than 3 workers died within 60 s; giving up and stopping the others" in text, text


def alive(pid: int) -> bool:
    """Whether a process with this pid still runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
