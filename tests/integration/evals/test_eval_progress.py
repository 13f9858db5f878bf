"""A long evaluation streams how far it has got, and outlives a client that stops listening.

Real sim model servers (green answers slowly), slipway on loopback with its
SQLite store, httpx as the client asking for JSON lines.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli

from slipway.web import eval_stream

NDJSON = {"accept": "application/x-ndjson"}


def slow_profile(latency_ms: int) -> str:
    return textwrap.dedent(
        f"""\
        model: cs-v2.2
        version: v2.2
        default:
          labels: [billing, shipping]
          accuracy: 1.0
          latency_ms: {latency_ms}
        categories:
          billing: {{keywords: [refund, invoice]}}
          shipping: {{keywords: [parcel, delivery]}}
        """
    )


def suite_text(n: int) -> str:
    rows = [
        {
            "id": f"c{i}",
            "prompt": f"where is my parcel {i}",
            "expect": {"label": "shipping"},
            "category": "shipping",
        }
        for i in range(n)
    ]
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[Gateway]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(slow_profile(150)) as green,
        live_gateway(tmp_path, routing_yaml(blue, green)) as gateway,
    ):
        added = httpx.post(f"{gateway.url}/admin/evals/suites/support", json={"cases_jsonl": suite_text(40)})
        assert added.status_code == 200, added.text
        yield gateway


def lines(resp: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in resp.iter_lines():
        if line.strip():
            item: dict[str, Any] = json.loads(line)
            yield item


def test_the_run_streams_its_progress_then_the_same_result_it_stores(gw: Gateway) -> None:
    body = {"suite": "support", "slot": "green", "against": "blue"}
    with httpx.stream("POST", f"{gw.url}/admin/evals/run", json=body, headers=NDJSON, timeout=60) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/x-ndjson")
        got = list(lines(resp))

    progress = [g["progress"] for g in got if "progress" in g]
    assert progress and all(p["suite"] == "support" and p["total"] == 80 for p in progress)
    answered = [p["answered"] for p in progress]
    assert answered == sorted(answered) and answered[-1] == 80, answered
    assert "result" in got[-1] and not any("error" in g for g in got)
    result = got[-1]["result"]
    assert result["passed"] is True and [r["suite"] for r in result["runs"]] == ["support"]
    stored = httpx.get(f"{gw.url}/admin/evals/runs/{result['runs'][0]['id']}").json()["run"]
    assert stored["passed"] is True and stored["id"] == result["runs"][0]["id"]


def test_a_silent_engine_still_gets_a_line_now_and_then(gw: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # Green answers four at a time, each after 150 ms: between batches the stream has nothing to say.
    monkeypatch.setattr(eval_stream, "HEARTBEAT_S", 0.05)
    monkeypatch.setattr(eval_stream, "EVERY_S", 0.0)
    body = {"suite": "support", "slot": "green"}
    with httpx.stream("POST", f"{gw.url}/admin/evals/run", json=body, headers=NDJSON, timeout=60) as resp:
        got = list(lines(resp))
    assert any("alive" in g for g in got), got
    assert got[-1]["result"]["passed"] is True


def test_a_client_that_stops_listening_does_not_stop_the_run(gw: Gateway) -> None:
    body = {"suite": "support", "slot": "green"}
    with httpx.stream("POST", f"{gw.url}/admin/evals/run", json=body, headers=NDJSON, timeout=60) as resp:
        first = next(lines(resp))
        assert "progress" in first and first["progress"]["answered"] < 40, first
    # The connection is closed with most of the suite still to answer: the run ends and is stored.
    deadline = time.monotonic() + 60
    while not (runs := httpx.get(f"{gw.url}/admin/evals/runs").json()["runs"]):
        assert time.monotonic() < deadline, "the run was not stored after its client left"
        time.sleep(0.2)
    assert runs[0]["suite"] == "support" and runs[0]["slot"] == "green" and runs[0]["passed"] is True


def test_a_refused_run_is_an_error_answer_not_a_stream(gw: Gateway) -> None:
    body = {"suite": "nope", "slot": "green"}
    refused = httpx.post(f"{gw.url}/admin/evals/run", json=body, headers=NDJSON, timeout=30)
    assert refused.status_code == 404 and "no evaluation suite named 'nope'" in refused.text
    unknown_slot = httpx.post(
        f"{gw.url}/admin/evals/run", json={"slot": "purple"}, headers=NDJSON, timeout=30
    )
    assert unknown_slot.status_code == 404 and "no slot named 'purple'" in unknown_slot.text


def test_without_json_lines_the_answer_is_one_json_object_as_before(gw: Gateway) -> None:
    done = httpx.post(f"{gw.url}/admin/evals/run", json={"suite": "support", "slot": "blue"}, timeout=60)
    assert done.status_code == 200 and done.json()["passed"] is True


def test_the_cli_follows_the_stream_and_prints_the_run(gw: Gateway) -> None:
    out = run_cli(gw.url, ["eval", "run", "support", "--slot", "green", "--against", "blue"])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "suite support passed" in out.stdout, out.stdout
    broken = run_cli(gw.url, ["eval", "run", "nope", "--slot", "green"])
    assert broken.returncode == 1 and "no evaluation suite named 'nope'" in broken.stderr, broken.stderr
