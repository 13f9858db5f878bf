"""A vLLM started without runtime LoRA updating: a deploy is refused with the fix, production untouched.

The operator listed v2.1 at start (`--lora-modules`) but did not set
VLLM_ALLOW_RUNTIME_LORA_UPDATING, so vLLM has no load endpoint. slipway must
say exactly that (not "adapter not found"), leave the route on v2.1, and
keep serving it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.harness import live_gateway
from tests.vllm.conftest import StartVllm
from tests.vllm.gateway_setup import direct, listed, refund_tickets, routing

from slipway.demo.tiny_hf import TinyHfModel

PREFIX = "static"


def test_a_deploy_onto_vllm_without_runtime_loading_names_the_flag_and_moves_nothing(
    tmp_path: Path, start_vllm_server: StartVllm, tiny_hf: TinyHfModel
) -> None:
    server = start_vllm_server(
        ["--lora-modules", f"{PREFIX}-v2.1={tiny_hf.adapter('v2.1')}"],
        env={"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "False"},
    )
    ticket = refund_tickets(1)[0]
    production = direct(server, f"{PREFIX}-v2.1", ticket.prompt)

    with live_gateway(tmp_path, routing(server, PREFIX)) as gw:
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "slot": "green", "model": f"{PREFIX}-v2.2",
                  "adapter": str(server.adapter("v2.2")), "no_smoke": True},
            timeout=120,
        )  # fmt: skip
        assert r.status_code >= 400, r.text
        body = r.text
        assert "does not allow loading adapters at run time" in body, body
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in body, body

        assert f"{PREFIX}-v2.2" not in listed(server)
        status = httpx.get(f"{gw.url}/admin/status", timeout=30).json()
        assert status["route"]["active"] == "blue"
        answer = httpx.post(
            f"{gw.url}/v1/completions",
            json={"model": "customer-support", "prompt": ticket.prompt, "max_tokens": 4, "temperature": 0},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        assert (answer.headers["x-slipway-slot"], answer.json()["choices"][0]["text"]) == ("blue", production)
