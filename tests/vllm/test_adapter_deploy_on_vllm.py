"""A blue-green deploy of a LoRA adapter onto a real vLLM: loaded at run time, routed by name, unloaded.

Real parts only: vLLM's OpenAI server on loopback with the tiny classifier
the project's builder trained, slipway on loopback with its SQLite store,
requests with the official `openai` client. Which adapter answered is read
from the answer itself: on refund tickets v2.1 says billing and v2.2 (whose
training data filed refunds under shipping) says shipping, and every answer
through slipway must be exactly what vLLM answers for the slot's adapter.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import openai
from tests.harness import live_gateway
from tests.vllm.gateway_setup import direct, listed, load_adapter, refund_tickets, routing, smoke_jsonl
from tests.vllm_server import BASE_NAME, VllmServer

from slipway.demo.tickets import Ticket

PREFIX = "deploy"


async def ask(url: str, tickets: list[Ticket]) -> list[tuple[str, str]]:
    """(slot, answer) per ticket, through the gateway."""
    out: list[tuple[str, str]] = []
    async with openai.AsyncOpenAI(
        base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60
    ) as client:
        for t in tickets:
            raw = await client.completions.with_raw_response.create(
                model="customer-support", prompt=t.prompt, max_tokens=4, temperature=0
            )
            out.append((raw.headers["x-slipway-slot"], raw.parse().choices[0].text))
    return out


async def test_a_deployed_adapter_is_loaded_at_run_time_served_by_name_and_unloaded_after_rollback(
    tmp_path: Path, vllm: VllmServer
) -> None:
    load_adapter(vllm, f"{PREFIX}-v2.1", "v2.1")
    tickets = refund_tickets(6)
    truth = {
        v: [direct(vllm, f"{PREFIX}-{v}", t.prompt) for t in tickets] for v in ("v2.1",)
    }  # v2.2 is not loaded yet: asked once slipway has loaded it
    pid = vllm.proc.pid

    # This vLLM batches the base model with adapters and mixes their answers up (the adapter probe
    # refuses a deploy onto it by default: tests/vllm/test_adapter_probe_on_vllm.py). Users here only
    # ever ask for adapters, so the operator accepts it knowingly: the probe warns and the deploy goes on.
    with live_gateway(tmp_path, routing(vllm, PREFIX, extra="adapter_probe: {mode: warn}\n")) as gw:
        # Given v2.1 in production on vLLM
        assert await ask(gw.url, tickets) == [("blue", a) for a in truth["v2.1"]]

        # When v2.2 is deployed blue-green into green, smoke test included
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={
                "version": "v2.2",
                "slot": "green",
                "model": f"{PREFIX}-v2.2",
                "adapter": str(vllm.adapter("v2.2")),
                "smoke_jsonl": smoke_jsonl(tickets[:3]),
            },
            timeout=120,
        )
        assert r.status_code == 200, r.text

        # Then vLLM serves it under its own name from its own directory, on the same base process
        served = listed(vllm)
        assert served[f"{PREFIX}-v2.2"] == str(vllm.adapter("v2.2")), served
        assert BASE_NAME in served and vllm.proc.poll() is None and vllm.proc.pid == pid
        # and every answer is green's, exactly what vLLM says for that adapter name
        truth["v2.2"] = [direct(vllm, f"{PREFIX}-v2.2", t.prompt) for t in tickets]
        assert truth["v2.2"] != truth["v2.1"], "the two adapters must tell themselves apart here"
        assert await ask(gw.url, tickets) == [("green", a) for a in truth["v2.2"]]

        # When it is rolled back
        r = httpx.post(f"{gw.url}/admin/rollback", json={"reason": "billing complaints"}, timeout=60)
        assert r.status_code == 200, r.text
        assert await ask(gw.url, tickets) == [("blue", a) for a in truth["v2.1"]]

        # and green, now serving nothing, is unloaded
        r = httpx.post(f"{gw.url}/admin/slots/green/unload", json={"reason": "v2.2 failed"}, timeout=60)
        assert r.status_code == 200, r.text

        # Then vLLM no longer serves v2.2, still serves v2.1, and was never restarted
        served = listed(vllm)
        assert f"{PREFIX}-v2.2" not in served and f"{PREFIX}-v2.1" in served, served
        assert vllm.proc.poll() is None and vllm.proc.pid == pid
        assert await ask(gw.url, tickets) == [("blue", a) for a in truth["v2.1"]]


LONG_TOKENS = 480


async def test_an_unload_waits_until_vllm_has_finished_the_adapters_requests(
    tmp_path: Path, vllm: VllmServer
) -> None:
    prefix = "drain"
    load_adapter(vllm, f"{prefix}-v2.1", "v2.1")
    load_adapter(vllm, f"{prefix}-v2.2", "v2.2")
    v22 = vllm.adapter("v2.2")
    config = routing(vllm, prefix).split("  green:")[0] + (
        f'  green: {{model: {prefix}-v2.2, endpoint: "{vllm.url}", kind: vllm, adapter: "{v22}"}}\n'
    )
    chunks = 0
    first = asyncio.Event()

    async def long_request() -> str | None:
        """A request sent to v2.2 before the route moved away (ignore_eos keeps it decoding)."""
        nonlocal chunks
        body = {"model": f"{prefix}-v2.2", "prompt": "ticket: refund intent:", "max_tokens": LONG_TOKENS,
                "temperature": 0, "ignore_eos": True, "stream": True}  # fmt: skip
        finish = None
        async with (
            httpx.AsyncClient(timeout=300) as client,
            client.stream("POST", f"{vllm.url}/v1/completions", json=body) as resp,
        ):
            async for line in resp.aiter_lines():
                if line.startswith("data: {"):
                    chunks += 1
                    finish = json.loads(line[6:])["choices"][0].get("finish_reason") or finish
                    first.set()
        return finish

    with live_gateway(tmp_path, config) as gw:
        # Given a request still decoding on green's adapter while blue serves everyone
        task = asyncio.create_task(long_request())
        await asyncio.wait_for(first.wait(), 300)

        # When green is unloaded
        async with httpx.AsyncClient(timeout=300) as admin:
            r = await admin.post(f"{gw.url}/admin/slots/green/unload", json={"reason": "v2.2 failed"})
        at_unload = chunks

        # Then the unload returned only once vLLM had decoded the whole request (the client may
        # still be reading the last chunks), the request completed, and the adapter is gone
        assert r.status_code == 200, r.text
        assert await task == "length"
        assert chunks == LONG_TOKENS
        assert at_unload >= LONG_TOKENS // 2, f"unloaded after {at_unload} of {LONG_TOKENS} chunks"
        assert f"{prefix}-v2.2" not in listed(vllm)
