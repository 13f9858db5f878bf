"""A deploy whose checks die with their `slipway serve` (`kill -9`) is marked failed, not left pending.

Real parts: `slipway serve` processes on loopback over one SQLite file, sim
model servers (green answers after 60 s, so the smoke test is still running
when the process is killed), the CLI and httpx as the operator. Every wait is
an outcome polled for with a generous guard, never a timing.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import ServeProcess, run_cli, slipway_serve

#: A guard against a hang: the liveness window, a sweep, with room to spare.
WAIT_S = 90.0

#: v2.2 on a model server that takes a minute to answer anything.
SLOW = """\
model: cs-v2.2
version: v2.2
default:
  labels: [billing, account, shipping, technical]
  latency_ms: 60000
categories:
  shipping: {keywords: [parcel, delivery]}
"""


def deployments(serve: ServeProcess) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = httpx.get(f"{serve.url}/admin/deployments", timeout=10).json()[
        "deployments"
    ]
    return found


def wait_for(serve: ServeProcess, what: str, ok: Any) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        deps = deployments(serve)
        if deps and ok(deps[0]):
            return deps[0]
        assert time.monotonic() < deadline, f"{what} did not happen: {deps[:1]}"
        time.sleep(0.2)


def test_a_deploy_killed_mid_smoke_test_is_marked_failed_by_the_next_leader(tmp_path: Path) -> None:
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text('{"id": "one", "prompt": "where is my parcel", "expect": {"label": "shipping"}}\n')
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(SLOW) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green))
        args = ["--config", "slipway.yaml"]

        # Given a deploy of v2.2 whose smoke test is waiting on a slow model server
        with slipway_serve(tmp_path, args) as first:
            body = {"version": "v2.2", "slot": "green", "smoke_jsonl": smoke.read_text()}
            answer: list[object] = []

            def deploy() -> None:
                try:
                    answer.append(httpx.post(f"{first.url}/admin/deploy", json=body, timeout=120).status_code)
                except httpx.TransportError as exc:
                    answer.append(exc)

            worker = threading.Thread(target=deploy)
            worker.start()
            checking = wait_for(
                first, "the smoke test", lambda d: d["status"] in ("pending", "smoke_testing")
            )
            assert checking["version"] == "v2.2" and ":" in checking["detail"]["checked_by"]

            # When the process is killed without warning in the middle of it
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
            worker.join(30)
            assert answer and isinstance(answer[0], httpx.TransportError), answer

        # Then a new server on the same store marks it failed, says why and what to do, and moved nothing
        with slipway_serve(tmp_path, args) as second:
            failed = wait_for(
                second, "the interrupted deploy marked failed", lambda d: d["status"] == "failed"
            )
            assert failed["id"] == checking["id"]
            error = failed["detail"]["error"]
            assert error.startswith(f"interrupted: replica {checking['detail']['checked_by']}, which ran"), (
                error
            )
            assert "nothing was switched" in error and "Deploy v2.2 again" in error
            route = httpx.get(f"{second.url}/admin/status", timeout=10).json()["route"]
            assert route["active"] == "blue"
            shown = run_cli(second.url, ["deployments"])
            assert shown.returncode == 0 and "failed" in shown.stdout, shown.stdout + shown.stderr
