"""The checklist's model-file item on the real engine: a damaged adapter file refuses the deploy.

The engine (llama-server with the tiny model) loaded v2.2's adapter at
start-up, so it still answers and the smoke test passes; the file on disk
was replaced since by an adapter made for another base. The checklist
validates the file itself, refuses the deploy (the standby slot holds v2.1
again, no user request reaches v2.2), and a waiver with a reason lets the
deploy go on and is kept in the deployment and the route history.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import Gateway, live_gateway, tiny_engine_yaml
from tests.processes import run_cli

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.scenario import smoke_cases
from slipway.demo.tickets import held_out_tickets
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    if find_llama_server() is None:
        install_llama_server()
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture
def gateway(tmp_path: Path, models: TinyModelPaths) -> Iterator[tuple[Gateway, Path]]:
    """v2.1 in blue and in the standby green, one engine with both adapters (v2.2's: this test's copy)."""
    v2_2 = tmp_path / "adapters" / models.v2_2.name
    v2_2.parent.mkdir()
    shutil.copy(models.v2_2, v2_2)
    yaml = tiny_engine_yaml(
        models, extra="checklist: {required: [model_file]}\nbake: {after_switch: false}\n"
    )
    with live_gateway(tmp_path, yaml.replace(str(models.v2_2), str(v2_2))) as gw:
        yield gw, v2_2


def deploy(gw: Gateway, tmp_path: Path, *args: str) -> Any:
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text("".join(json.dumps(c) + "\n" for c in smoke_cases(0)))
    target = ["--slot", "green", "--model", "customer-support-v2.2", "--adapter", "v2.2"]
    return run_cli(gw.url, ["deploy", "v2.2", *target, "--smoke", str(smoke), *args])


def get(gw: Gateway, path: str) -> Any:
    r = httpx.get(f"{gw.url}{path}", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


async def served(gw: Gateway, n: int) -> dict[str, int]:
    """`n` tickets through the gateway as users send them: which slot answered each."""
    slots: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=gw.url, timeout=60) as client:
        for ticket in held_out_tickets(n, seed=5):
            r = await client.post(
                "/v1/completions", json={"model": "m", "prompt": ticket.prompt, "max_tokens": 4}
            )
            assert r.status_code == 200, r.text
            slots[r.headers["x-slipway-slot"]] = slots.get(r.headers["x-slipway-slot"], 0) + 1
    return slots


async def test_an_adapter_file_that_fails_validation_refuses_the_deploy_and_a_waiver_ships_it(
    tmp_path: Path, models: TinyModelPaths, gateway: tuple[Gateway, Path]
) -> None:
    gw, v2_2 = gateway
    # Given v2.2's file replaced, after the engine loaded it, by an adapter made for another base
    shutil.copy(models.wrong_base_adapter, v2_2)

    # When v2.2 is deployed, the engine still answers from memory, but the checklist reads the file
    out = deploy(gw, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    text = " ".join(out.stderr.split())
    assert "model_file (" in text and f"adapter {v2_2.name} failed validation" in text, text
    assert "base-identity" in text and "slipway adapters validate" in text, text
    assert "no traffic moved" in text, text

    # Then the standby slot holds v2.1 again, and no user request reaches v2.2
    status = get(gw, "/admin/status")
    assert status["route"]["active"] == "blue" and not status["route"]["weights_pct"], status["route"]
    green = next(s for s in status["slots"] if s["name"] == "green")
    assert (green["model"], green["adapter"]) == ("customer-support-v2.1", "v2.1"), green
    dep = get(gw, "/admin/deployments")["deployments"][0]
    assert (dep["version"], dep["status"]) == ("v2.2", "checklist_failed"), dep
    history = get(gw, "/admin/history")["changes"]
    assert not [c for c in history if c["to_active"] == "green"], history
    assert await served(gw, 10) == {"blue": 10}
    store, recorder = gw.runtime.store, gw.runtime.recorder
    assert store is not None and recorder is not None
    await recorder.flush()
    records = await store.list_requests(since=0.0)
    assert {r.slot for r in records} == {"blue"} and not [r for r in records if "v2.2" in r.version]

    # When the operator waives the item with a reason, v2.2 goes live and the waiver is kept
    why = "the engine loaded the file before it was replaced; re-registering it after the release"
    out = deploy(gw, tmp_path, "--waive", "model_file", "--reason", why)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "deployed v2.2" in out.stdout and "waived" in out.stdout
    assert get(gw, "/admin/status")["route"]["active"] == "green"
    switch = next(c for c in get(gw, "/admin/history")["changes"] if c["kind"] == "deploy")
    assert f"model_file waived ({why})" in switch["reason"], switch["reason"]
    dep = get(gw, "/admin/deployments")["deployments"][0]
    assert dep["status"] == "live" and f"model_file waived ({why})" in dep["detail"]["checklist"]["waivers"]
    assert await served(gw, 5) == {"green": 5}
