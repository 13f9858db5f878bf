"""`slipway drill` rehearses a rollback for real, on every replica, while users stay where they are.

Real `slipway serve` processes, simulated backends on loopback, SQLite for one
gateway and PostgreSQL for two replicas. Users' requests run beside each
drill, and must all be answered by the active slot and recorded; the drill's
own requests must reach the standby and back on every replica, and never be
recorded.
"""

from __future__ import annotations

import contextlib
import json
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.pg import fresh_schema
from tests.processes import ServeProcess, admin_status, run_cli, slipway_serve, wait_for_status

HTTP = 30.0
SMOKE = "\n".join(
    json.dumps({"id": f"case-{i}", "prompt": prompt, "expect": {"label": label}})
    for i, (prompt, label) in enumerate(
        [("refund my order", "billing"), ("where is my parcel", "shipping"), ("invoice is wrong", "billing")]
    )
)


class Users:
    """A steady stream of users' requests to some replicas, some carrying a made-up drill token."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.slots: list[str] = []
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=HTTP) as client:
            i = 0
            while not self._stop.is_set():
                # Every third user sends a drill header of their own: it must change nothing.
                headers = {"X-Slipway-Drill": f"guess-{i}"} if i % 3 == 0 else {}
                r = client.post(
                    f"{self.urls[i % len(self.urls)]}/v1/chat/completions",
                    json={
                        "model": "customer-support",
                        "messages": [{"role": "user", "content": f"refund {i}"}],
                    },
                    headers=headers,
                )
                self.statuses.append(r.status_code)
                self.slots.append(r.headers.get("x-slipway-slot", "?"))
                i += 1

    def __enter__(self) -> Users:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(HTTP)


def drills(url: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/admin/drills", timeout=HTTP)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["drills"]
    return found


def recorded_per_slot(url: str, expected_total: int) -> dict[str, int]:
    """Requests the store holds per slot (last 5 minutes), once all `expected_total` users' are written."""
    st = wait_for_status(
        url,
        lambda st: sum(s["requests_5m"] for s in st["slots"]) >= expected_total,
        f"{expected_total} users' requests recorded",
        30,
    )
    return {s["name"]: s["requests_5m"] for s in st["slots"]}


@contextlib.contextmanager
def one_gateway(tmp_path: Path) -> Iterator[tuple[ServeProcess, Any]]:
    """One gateway on SQLite: green (v2.2) active after a switch, blue (v2.1) the rollback target."""
    blue_stop = contextlib.ExitStack()
    with (
        blue_stop,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        blue = blue_stop.enter_context(sim_backend(sim_profile("customer-support-v2.1", "v2.1")))
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        (tmp_path / "smoke.jsonl").write_text(SMOKE)
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as gw:
            yield gw, blue_stop


def test_a_drill_moves_only_its_own_requests_and_records_its_switch_times(tmp_path: Path) -> None:
    with one_gateway(tmp_path) as (gw, _blue):
        with Users([gw.url]) as users:
            done = run_cli(gw.url, ["drill", "--smoke", "smoke.jsonl"], cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "passed: green -> blue" in done.stdout

        (drill,) = drills(gw.url)
        result = drill["result"]
        assert drill["passed"] is True and drill["slot"] == "blue" and result["reason"] is None
        assert result["smoke_passed"] is True and result["smoke"]["total"] == 3
        assert result["switch_ms"] is not None and result["switch_back_ms"] is not None
        (replica,) = result["replicas"]
        assert replica["switch_ms"] == result["switch_ms"] and replica["answered_by_standby"] >= 20
        assert result["unpinned_requests"] == 0 and result["drill_requests"] >= 40

        # Users: every answer from the active slot, and every one of them recorded; the drill's: none.
        assert users.slots and set(users.slots) == {"green"} and set(users.statuses) == {200}
        assert recorded_per_slot(gw.url, len(users.slots)) == {"green": len(users.slots), "blue": 0}

        st = admin_status(gw.url)
        assert st["route"]["active"] == "green" and st["drill"]["running"] is None
        assert st["drill"]["last"]["passed"] is True and st["drill"]["last"]["slot"] == "blue"
        metrics = httpx.get(f"{gw.url}/metrics", timeout=HTTP).text
        assert "slipway_drill_last_passed 1.0" in metrics and "slipway_drill_last_switch_seconds" in metrics
        status = run_cli(gw.url, ["status"])
        assert "last drill" in status.stdout and "with blue: passed" in status.stdout

        history = httpx.get(f"{gw.url}/admin/history", timeout=HTTP).json()["changes"]
        drill_changes = [c for c in history if c["kind"] == "drill"]
        assert [c["reason"].split(": ", 1)[1] for c in reversed(drill_changes)] == [
            "pin the drill's requests to green (users' routes unchanged)",
            "pin the drill's requests to blue (the rollback, rehearsed)",
            "pin the drill's requests back to green",
            "clear the pin",
        ]
        assert all(c["from_active"] == "green" for c in drill_changes)
        assert all(c["to_active"] == "green" for c in drill_changes)

        listed = run_cli(gw.url, ["drill", "list"])
        assert listed.returncode == 0 and "passed" in listed.stdout and "blue" in listed.stdout


def test_a_drill_against_a_dead_standby_fails_is_recorded_with_the_reason_and_clears_its_pin(
    tmp_path: Path,
) -> None:
    with one_gateway(tmp_path) as (gw, blue):
        blue.close()  # the standby's server is gone
        with Users([gw.url]) as users:
            done = run_cli(gw.url, ["drill", "--requests", "5"])
        assert done.returncode == 1, done.stdout + done.stderr
        assert "failed" in done.stdout

        (drill,) = drills(gw.url)
        reason = drill["result"]["reason"]
        assert drill["passed"] is False and drill["slot"] == "blue"
        assert "not answered by blue" in reason and "a rollback to blue would fail" in reason, reason
        assert drill["result"]["switch_ms"] is None and drill["result"]["replicas"][0]["last_error"]

        st = admin_status(gw.url)
        assert st["drill"]["running"] is None and st["drill"]["last"]["passed"] is False
        assert "slipway_drill_last_passed 0.0" in httpx.get(f"{gw.url}/metrics", timeout=HTTP).text
        history = httpx.get(f"{gw.url}/admin/history", timeout=HTTP).json()["changes"]
        assert history[0]["kind"] == "drill" and history[0]["reason"].endswith("clear the pin")
        assert set(users.slots) == {"green"} and set(users.statuses) == {200}


def test_a_second_drill_while_one_runs_is_refused_and_a_refusal_names_the_fix(tmp_path: Path) -> None:
    with one_gateway(tmp_path) as (gw, _blue):
        first: dict[str, Any] = {}

        def run_first() -> None:
            first["response"] = httpx.post(f"{gw.url}/admin/drill", json={"requests": 200}, timeout=120)

        thread = threading.Thread(target=run_first)
        thread.start()
        try:
            wait_for_status(
                gw.url, lambda st: bool(st["drill"] and st["drill"]["running"]), "a drill running", 30
            )
            second = httpx.post(f"{gw.url}/admin/drill", json={}, timeout=HTTP)
        finally:
            thread.join(120)
        assert second.status_code == 409, second.text
        assert "a drill is already running" in second.json()["error"]["message"]
        assert first["response"].status_code == 200 and first["response"].json()["drill"]["passed"] is True
        assert len(drills(gw.url)) == 1  # the refused one started nothing and recorded nothing

        refused = httpx.post(f"{gw.url}/admin/drill", json={"slot": "green"}, timeout=HTTP)
        assert refused.status_code == 409 and "is the active slot" in refused.json()["error"]["message"]
        assert refused.json()["error"]["hint"]
        bad = httpx.post(f"{gw.url}/admin/drill", json={"requests": 0}, timeout=HTTP)
        assert bad.status_code == 422


def led_by_one_of_two(st: dict[str, Any]) -> bool:
    replicas = st["replicas"]
    return replicas is not None and len(replicas["live"]) == 2 and replicas["leader"]["id"] is not None


def start_drill_and_hang_up(url: str) -> None:
    """A drill long enough to be cut short; its caller may be cut off too."""
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url}/admin/drill", json={"requests": 200}, timeout=60)


def test_a_drill_cut_short_by_a_stop_clears_its_pin_and_is_recorded_as_failed(tmp_path: Path) -> None:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        grace = "gateway:\n  shutdown_grace_s: 1\n"
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green", extra=grace))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as gw:
            port = int(gw.url.rsplit(":", 1)[1])
            threading.Thread(target=start_drill_and_hang_up, args=(gw.url,), daemon=True).start()
            wait_for_status(
                gw.url, lambda st: bool(st["drill"] and st["drill"]["running"]), "a drill running", 30
            )
            gw.proc.send_signal(signal.SIGTERM)  # slipway stops while the drill runs
            assert gw.proc.wait(60) == 0, gw.log()
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"], port=port) as again:
            st = admin_status(again.url)
            assert st["drill"]["running"] is None, st["drill"]
            (drill,) = drills(again.url)
            assert drill["passed"] is False and drill["result"]["reason"], drill
            # Cancelled by the stop, or failed first because the gateway stopped answering.
            assert "cancelled" in drill["result"]["reason"] or "not answered" in drill["result"]["reason"]
            history = httpx.get(f"{again.url}/admin/history", timeout=HTTP).json()["changes"]
            assert history[0]["kind"] == "drill" and history[0]["reason"].endswith("clear the pin")
            # Users are served by the active slot as before.
            chat = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            r = httpx.post(f"{again.url}/v1/chat/completions", json=chat, timeout=HTTP)
            assert r.status_code == 200 and r.headers["x-slipway-slot"] == "green"


def test_under_serve_workers_any_worker_takes_the_drill_and_users_stay_on_the_active_slot(
    tmp_path: Path,
) -> None:
    """The leader shares the port with the other worker and cannot be asked alone: whichever worker
    the kernel hands the call to runs it."""
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        args = ["--config", "slipway.yaml", "--workers", "2", "--route-poll", "0.2"]
        with slipway_serve(tmp_path, args) as gw:
            wait_for_status(
                gw.url, lambda st: len((st["replicas"] or {}).get("live", [])) == 2, "2 workers", 60
            )
            with Users([gw.url]) as users:
                answers = [
                    httpx.post(f"{gw.url}/admin/drill", json={"requests": 3}, timeout=120) for _ in range(6)
                ]
            assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
            assert all(r.json()["drill"]["passed"] for r in answers), [r.json() for r in answers]
            assert len(drills(gw.url)) == 6
            assert set(users.slots) == {"green"} and set(users.statuses) == {200}
            assert recorded_per_slot(gw.url, len(users.slots)) == {"green": len(users.slots), "blue": 0}


@pytest.mark.postgres
def test_on_two_replicas_the_drill_times_each_while_users_on_both_stay_on_the_active_slot(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        sim_backend(sim_profile("customer-support-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("customer-support-v2.2", "v2.2")) as green,
        fresh_schema(postgres_url) as store,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, active="green"))
        (tmp_path / "smoke.jsonl").write_text(SMOKE)
        args = ["--config", "slipway.yaml", "--store", store]
        with slipway_serve(tmp_path, args) as a, slipway_serve(tmp_path, args) as b:
            st = wait_for_status(a.url, led_by_one_of_two, "two live replicas, one leading", 30)
            leader = a if st["replicas"]["leader"]["this_replica"] else b
            follower = b if leader is a else a

            # A follower refuses, and names the leader.
            refused = httpx.post(f"{follower.url}/admin/drill", json={}, timeout=HTTP)
            assert refused.status_code == 409, refused.text
            assert f"slipway drill --url {leader.url}" in refused.json()["error"]["hint"]

            with Users([a.url, b.url]) as users:
                done = run_cli(leader.url, ["drill", "--smoke", "smoke.jsonl"], cwd=tmp_path)
            assert done.returncode == 0, done.stdout + done.stderr

            (drill,) = drills(follower.url)  # any replica lists it
            result = drill["result"]
            assert drill["passed"] is True and result["smoke_passed"] is True
            assert {r["url"] for r in result["replicas"]} == {a.url, b.url}
            for replica in result["replicas"]:
                assert replica["switch_ms"] is not None and replica["switch_back_ms"] is not None, replica
                assert replica["answered_by_standby"] >= 20
            assert result["switch_ms"] == max(r["switch_ms"] for r in result["replicas"])
            assert result["unpinned_requests"] == 0

            assert set(users.slots) == {"green"} and set(users.statuses) == {200} and len(users.slots) > 10
            assert recorded_per_slot(a.url, len(users.slots)) == {"green": len(users.slots), "blue": 0}
            for replica in (a, b):
                assert admin_status(replica.url)["drill"]["running"] is None
            times = [(r["switch_ms"], r["switch_back_ms"]) for r in result["replicas"]]
            print(f"drill switch times there and back (ms), per replica: {times}")
