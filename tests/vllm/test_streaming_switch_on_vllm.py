"""Per-adapter routing under streaming load on a real vLLM: switches and rollbacks lose no request.

Several clients stream completions through slipway with the official
`openai` client while the route moves from v2.1 to v2.2 and back, again and
again. Every stream must finish (`finish_reason` set, no error), and every
answer must be exactly what vLLM answers for the adapter of the slot the
gateway named in `X-Slipway-Slot`: a request is never sent to one adapter
and reported as the other, even when the route changes under it.

The switcher moves the route only after enough streams have completed since
its last move, and the clients stop only after its last move, so every run
sees both slots serve streams whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import openai
from tests.harness import live_gateway
from tests.vllm.gateway_setup import direct, load_adapter, refund_tickets, routing
from tests.vllm_server import VllmServer

PREFIX = "stream"
CLIENTS = 4
MOVES = 6
STREAMS_BETWEEN_MOVES = 8
TIMEOUT_S = 300.0


async def test_streams_survive_switches_and_rollbacks_and_each_answer_is_its_slots(
    tmp_path: Path, vllm: VllmServer
) -> None:
    for version in ("v2.1", "v2.2"):
        load_adapter(vllm, f"{PREFIX}-{version}", version)
    tickets = refund_tickets(8)
    truth = {
        slot: [direct(vllm, f"{PREFIX}-{version}", t.prompt) for t in tickets]
        for slot, version in (("blue", "v2.1"), ("green", "v2.2"))
    }
    assert truth["blue"] != truth["green"], "the two adapters must tell themselves apart here"
    green = (
        f'  green: {{model: {PREFIX}-v2.2, endpoint: "{vllm.url}", kind: vllm, '
        f'adapter: "{vllm.adapter("v2.2")}"}}\n'
    )
    config = routing(vllm, PREFIX).split("  green:")[0] + green

    with live_gateway(tmp_path, config) as gw:
        completed = 0
        moved_since = asyncio.Event()
        done = asyncio.Event()
        served: Counter[str] = Counter()
        wrong: list[str] = []

        async def client(c: int) -> None:
            nonlocal completed
            async with openai.AsyncOpenAI(
                base_url=f"{gw.url}/v1", api_key="unused", max_retries=0, timeout=60
            ) as api:
                i = c
                while not done.is_set():
                    ticket = i % len(tickets)
                    async with api.completions.with_streaming_response.create(
                        model="customer-support",
                        prompt=tickets[ticket].prompt,
                        max_tokens=4,
                        temperature=0,
                        stream=True,
                    ) as resp:
                        slot = resp.headers["x-slipway-slot"]
                        text, finish = "", None
                        async for chunk in await resp.parse():
                            for choice in chunk.choices:
                                text += choice.text
                                finish = choice.finish_reason or finish
                    assert finish is not None, f"stream {i} on {slot} ended without a finish reason"
                    served[slot] += 1
                    if text != truth[slot][ticket]:
                        wrong.append(f"{slot} answered {text!r}, its adapter says {truth[slot][ticket]!r}")
                    completed += 1
                    if completed % STREAMS_BETWEEN_MOVES == 0:
                        moved_since.set()
                    i += CLIENTS

        async def switcher() -> list[str]:
            actives: list[str] = []
            async with httpx.AsyncClient(base_url=gw.url, timeout=60) as admin:
                for move in range(MOVES):
                    moved_since.clear()
                    await moved_since.wait()
                    if move % 2 == 0:
                        r = await admin.post("/admin/switch", json={"to": "green", "reason": "ship v2.2"})
                    else:
                        r = await admin.post("/admin/rollback", json={"reason": "back to v2.1"})
                    assert r.status_code == 200, r.text
                    actives.append(str(r.json()["to"]))
                moved_since.clear()
                await moved_since.wait()
            done.set()
            return actives

        results = await asyncio.wait_for(
            asyncio.gather(switcher(), *(client(c) for c in range(CLIENTS))), TIMEOUT_S
        )

    assert results[0] == ["green", "blue"] * (MOVES // 2)
    assert not wrong, wrong
    assert served["blue"] >= STREAMS_BETWEEN_MOVES and served["green"] >= STREAMS_BETWEEN_MOVES, served
