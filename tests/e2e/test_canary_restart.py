"""kill -9 in the middle of a canary phase: the restarted `slipway serve` resumes the same phase and timer.

`slipway serve` runs as a subprocess, as an operator runs it, with its
control loop on a drill clock (SLIPWAY_CLOCK_SCALE=600: ten minutes a
second), so the 2-hour phase ends 12 seconds after it starts whatever
happens in between. The operator's side is the CLI.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
from tests.e2e.canary_story import traffic
from tests.harness import routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli, slipway_serve

SCALE = 600
#: Not enough data at the phase end (a slow machine) waits for it rather than rolling back.
CANARY = """\
canary:
  inconclusive: hold
"""


#: A canary in its phase: running, or holding at the phase's end for labels still to come.
LIVE = ("running", "holding")


def status(url: str) -> dict[str, Any]:
    out = run_cli(url, ["canary", "status", "--json"])
    assert out.returncode == 0, out.stderr
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def wait_until(url: str, what: str, ok: Any, timeout: float = 40.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = httpx.get(f"{url}/admin/canary").json()
        if ok(data["canary"]):
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s: {data['canary']}")
        time.sleep(0.1)


async def test_kill_9_mid_phase_then_restart_resumes_the_same_phase_and_timer(tmp_path: Path) -> None:
    env = {"SLIPWAY_CLOCK_SCALE": str(SCALE), "SLIPWAY_CLOCK_ANCHOR": repr(time.time())}
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, extra=CANARY))
        args = ["--config", "slipway.yaml"]

        # Given a canary of v2.2 started from the CLI, 10 % for 2 h then 50 % for 2 h
        with slipway_serve(tmp_path, args, env=env) as first:
            out = run_cli(
                first.url,
                ["deploy", "v2.2", "--strategy", "canary", "--slot", "green", "--no-smoke",
                 "--steps", "10%:2h,50%:8h,100%", "--interval", "15m"],
            )  # fmt: skip
            assert out.returncode == 0, out.stderr
            assert "canary started" in out.stdout and "10%" in out.stdout
            await traffic(first.url, 100)
            before = status(first.url)["canary"]
            # On a busy machine the 12-second phase may have ended already, short of labels: it then
            # holds (the config says so) in the same phase, which is what the restart must keep.
            assert before["status"] in LIVE and (before["phase"], before["weight_pct"]) == (1, 10), before

            # When the server is killed without warning in the middle of the phase
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
            killed_at = time.time()

        # Then a new server on the same store is in the same phase, with the same timer running on
        with slipway_serve(tmp_path, args, env=env) as second:
            after = status(second.url)["canary"]
            assert after["status"] in LIVE and (after["phase"], after["weight_pct"]) == (1, 10), after
            assert after["started_at"] == before["started_at"]
            assert (
                after["phase_elapsed_s"]
                >= before["phase_elapsed_s"] + (time.time() - killed_at) * SCALE * 0.5
            )
            if after["status"] == before["status"] == "running":  # no extension for labels between
                assert after["phase_left_s"] < before["phase_left_s"]
            route = httpx.get(f"{second.url}/admin/status").json()["route"]
            assert route["weights_pct"] == {"blue": 90, "green": 10}

            # And the ramp carries on unattended: the phase ends on time and the next step begins
            served = await traffic(second.url, 1500)
            assert served["green"] > 100
            moved = wait_until(
                second.url, "phase 2", lambda c: c["phase"] == 2 or c["status"] not in ("running", "holding")
            )
            assert (moved["canary"]["status"], moved["canary"]["weight_pct"]) == ("running", 50)
            # The operator pauses to look (on this sped-up clock the phase would otherwise end, and
            # promote itself, while a busy machine runs the commands below).
            paused = run_cli(second.url, ["canary", "pause", "--reason", "a look before promoting"])
            assert paused.returncode == 0, paused.stderr

            # The operator's views of it
            shown = run_cli(second.url, ["canary", "status"])
            assert shown.returncode == 0, shown.stderr
            assert "phase 2/2 at 50%" in shown.stdout and "error_rate" in shown.stdout
            assert "phase" in shown.stdout and "timeline" in shown.stdout
            frame = run_cli(second.url, ["canary", "watch", "--once"])
            assert frame.returncode == 0 and "slipway canary watch" in frame.stdout
            # Piped without COLUMNS: the table keeps its columns, the frame only the width it needs.
            piped = run_cli(second.url, ["canary", "watch", "--once"], env={"COLUMNS": ""})
            assert piped.returncode == 0 and "effect (interval), p" in piped.stdout, piped.stderr
            assert max(len(line) for line in piped.stdout.splitlines()) < 600, piped.stdout

            promoted = run_cli(second.url, ["canary", "promote", "--reason", "enough seen"])
            assert promoted.returncode == 0 and "promoted" in promoted.stdout, promoted.stderr
            back = run_cli(second.url, ["rollback", "--reason", "second thoughts"])
            assert back.returncode == 0 and "green -> blue" in back.stdout, back.stderr
            again = run_cli(second.url, ["canary", "pause"])
            assert again.returncode == 1 and "has ended" in again.stderr
