"""Many operators rolling back at once: each is told the move the server really made, never `blue -> blue`.

Every rollback answered is checked against the route history: the route
version it names must be the change with exactly that from and to.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml
from tests.processes import ServeProcess, run_cli, slipway_serve

WAIT_S = 120.0
API_CALLS = 50
CLI_CALLS = 8
CLI_LINE = re.compile(r"rolled back: (\S+) -> (\S+) \(route v(\d+),")


@pytest.fixture
def served(tmp_path: Path, blue_url: str, green_url: str) -> Iterator[ServeProcess]:
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
        yield proc


def changes_by_version(url: str) -> dict[int, dict[str, Any]]:
    changes = httpx.get(f"{url}/admin/history", params={"limit": 1000}, timeout=WAIT_S).json()["changes"]
    return {c["version"]: c for c in changes}


def test_fifty_parallel_api_rollbacks_each_report_the_change_they_made(served: ServeProcess) -> None:
    def rollback(_i: int) -> dict[str, Any]:
        r = httpx.post(f"{served.url}/admin/rollback", json={"reason": "parallel"}, timeout=WAIT_S)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    with ThreadPoolExecutor(API_CALLS) as pool:
        answers = list(pool.map(rollback, range(API_CALLS)))

    history = changes_by_version(served.url)
    versions = [a["route_version"] for a in answers]
    assert len(set(versions)) == API_CALLS, "each rollback is its own change"
    for answer in answers:
        assert answer["from"] != answer["to"], answer
        change = history[answer["route_version"]]
        assert (change["kind"], change["from_active"], change["to_active"]) == (
            "rollback",
            answer["from"],
            answer["to"],
        ), (answer, change)


def test_parallel_cli_rollbacks_print_the_truth(served: ServeProcess) -> None:
    def rollback(_i: int) -> subprocess.CompletedProcess[str]:
        return run_cli(served.url, ["rollback", "-r", "parallel cli"], timeout=WAIT_S)

    with ThreadPoolExecutor(CLI_CALLS) as pool:
        runs = list(pool.map(rollback, range(CLI_CALLS)))

    history = changes_by_version(served.url)
    for run in runs:
        assert run.returncode == 0, run.stderr
        found = CLI_LINE.search(" ".join(run.stdout.split()))
        assert found is not None, run.stdout
        src, dst, version = found.group(1), found.group(2), int(found.group(3))
        assert src != dst, run.stdout
        change = history[version]
        assert (change["from_active"], change["to_active"]) == (src, dst), (run.stdout, change)


def test_parallel_switches_to_one_slot_move_traffic_once_and_the_rest_say_nothing_changed(
    served: ServeProcess,
) -> None:
    def switch(_i: int) -> dict[str, Any]:
        r = httpx.post(f"{served.url}/admin/switch", json={"to": "green"}, timeout=WAIT_S)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(switch, range(20)))

    moved = [a for a in answers if a["changed"]]
    assert len(moved) == 1 and (moved[0]["from"], moved[0]["to"]) == ("blue", "green"), answers
    for answer in answers:
        if not answer["changed"]:
            assert answer["from"] == answer["to"] == "green" and "nothing changed" in answer["reason"]
    switches = [c for c in changes_by_version(served.url).values() if c["kind"] == "switch"]
    assert len(switches) == 1

    out = run_cli(served.url, ["switch", "green"], timeout=WAIT_S)
    assert out.returncode == 0, out.stderr
    assert "green already was the active slot with all traffic: nothing changed" in " ".join(
        out.stdout.split()
    )
