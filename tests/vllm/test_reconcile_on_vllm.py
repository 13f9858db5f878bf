"""On a real vLLM: a restarted slipway unloads the adapters it loaded and nothing refers to any more,
and an adapter above the server's --max-lora-rank is refused in words that say both ranks and the fix.

Adapters vLLM was given at start (`--lora-modules`) or that someone loaded
by hand are not slipway's: they stay whatever their names look like.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import httpx
from tests.harness import live_gateway
from tests.vllm.conftest import StartVllm
from tests.vllm.gateway_setup import listed, load_adapter, routing
from tests.vllm.test_peft_registry_on_vllm import rank_16_copy
from tests.vllm_server import VllmServer

from slipway.demo.tiny_hf import TinyHfModel

#: A guard against a hang, not a measure: a reconcile at start takes a few seconds.
RECONCILE_TIMEOUT_S = 180.0


def deploy(url: str, version: str, name: str, adapter: Path, *, switch: bool = True) -> httpx.Response:
    body = {
        "version": version,
        "slot": "green",
        "model": name,
        "adapter": str(adapter),
        "no_smoke": True,
        "switch": switch,
    }
    return httpx.post(f"{url}/admin/deploy", json=body, timeout=300)


def wait_until_gone(server: VllmServer, name: str) -> dict[str, str | None]:
    deadline = time.monotonic() + RECONCILE_TIMEOUT_S
    while True:
        served = listed(server)
        if name not in served or time.monotonic() > deadline:
            return served
        time.sleep(0.5)


def test_a_restarted_slipway_unloads_the_adapters_it_loaded_that_nothing_refers_to(
    tmp_path: Path, start_vllm_server: StartVllm, tiny_hf: TinyHfModel
) -> None:
    # Given vLLM started with an adapter of the operator's (--lora-modules), which blue serves,
    v21, v22 = tiny_hf.adapter("v2.1"), tiny_hf.adapter("v2.2")
    server = start_vllm_server(["--lora-modules", f"rc-static={v21}"])
    # and one loaded by hand under a name just like a deploy's
    load_adapter(server, "rc-hand-v2.2", "v2.2")
    config = textwrap.dedent(
        f"""\
        name: customer-support
        active_slot: blue
        adapter_probe: {{mode: warn}}
        slots:
          blue: {{model: rc-static, endpoint: "{server.url}", kind: vllm, adapter: "{v21}"}}
          green: {{model: rc-static, endpoint: "{server.url}", kind: vllm, adapter: "{v21}"}}
        """
    )
    with live_gateway(tmp_path, config) as gw:
        # and v2.2 deployed through slipway (loaded at run time under its own name), then rolled back
        r = deploy(gw.url, "v2.2", "rc-v2.2", v22)
        assert r.status_code == 200, r.text
        assert listed(server)["rc-v2.2"] == str(v22)
        r = httpx.post(f"{gw.url}/admin/rollback", json={"reason": "billing complaints"}, timeout=60)
        assert r.status_code == 200, r.text
        # and the standby restaged with v2.1 again, so nothing refers to rc-v2.2 any more; slipway
        # stops before the replaced slot's drain is over (its retirement dies with the process)
        r = deploy(gw.url, "v2.1-again", "rc-static", v21, switch=False)
        assert r.status_code == 200, r.text
        table = gw.runtime.controller.table
        assert {s.backend_model for s in table.slots.values()} == {"rc-static"}
    assert "rc-v2.2" in listed(server), "the stale adapter is still loaded when slipway stops"

    # When slipway starts again on the same store
    with live_gateway(tmp_path, config) as gw:
        served = wait_until_gone(server, "rc-v2.2")

        # Then the adapter it loaded and nothing refers to is gone from vLLM,
        assert "rc-v2.2" not in served, served
        # the operator's adapters stay, and blue still serves
        assert served["rc-static"] == str(v21) and served["rc-hand-v2.2"] == str(v22), served
        assert gw.runtime.controller.table.active == "blue"
        report = gw.runtime.adapter_reconcile.last if gw.runtime.adapter_reconcile else None
        assert report is not None and report.unloaded == ((server.url, "rc-v2.2"),), report
        answer = httpx.post(
            f"{gw.url}/v1/completions",
            json={"model": "customer-support", "prompt": "Hello", "max_tokens": 2, "temperature": 0},
            timeout=60,
        )
        assert answer.status_code == 200 and answer.headers["x-slipway-slot"] == "blue", answer.text


def test_an_adapter_above_the_servers_max_lora_rank_is_refused_with_both_ranks_and_the_fix(
    tmp_path: Path, vllm: VllmServer
) -> None:
    # The session's vLLM runs with --max-lora-rank 8; the tiny adapters are r 8.
    prefix = "rank"
    load_adapter(vllm, f"{prefix}-v2.1", "v2.1")
    wide = rank_16_copy(vllm.adapter("v2.2"), tmp_path / "v2.2-r16")
    config = routing(vllm, prefix, extra="adapter_probe: {mode: warn}\n")
    with live_gateway(tmp_path, config) as gw:
        # When a rank-16 adapter is deployed to it
        r = deploy(gw.url, "v2.2-r16", f"{prefix}-v2.2-r16", wide)

        # Then the deploy is refused, in words that name both ranks and the fix
        assert r.status_code >= 400, r.text
        error = r.json()["error"]
        assert "LoRA rank 16" in error["message"] and "max LoRA rank 8" in error["message"], error
        assert "LoRA rank 16 is greater than max_lora_rank 8" in error["message"], "vLLM's own words"
        assert "--max-lora-rank 16" in error["hint"] and "r <= 8" in error["hint"], error
        # and nothing routes to it: vLLM does not list it, every slot is what it was
        assert f"{prefix}-v2.2-r16" not in listed(vllm)
        table = gw.runtime.controller.table
        assert table.active == "blue" and not table.weights
        assert {s.backend_model for s in table.slots.values()} == {f"{prefix}-v2.1"}
