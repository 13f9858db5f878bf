"""Rollback while streams are open: nothing fails, in-flight work stays put, new work moves at once (BG3).

Two sim backends stream slowly (40 tokens, 10 ms apart) so every switch lands
in the middle of many open streams. Each stream must finish on the slot it
started on — every chunk's `model` is that slot's backend — and every request
sent after a switch returned must land on the new slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile

SLOW: dict[str, Any] = {"stream_interval_ms": 10, "output_tokens": 40}

MODEL_OF = {"blue": "cs-v2.1", "green": "cs-v2.2"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1", **SLOW)) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", **SLOW), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green)) as gw,
    ):
        yield gw


async def one_stream(client: openai.AsyncOpenAI, i: int) -> tuple[str, set[str], int, str | None]:
    """(slot header, models seen in chunks, chunk count, finish reason) for one streamed chat."""
    async with client.chat.completions.with_streaming_response.create(
        model="customer-support",
        messages=[{"role": "user", "content": f"refund number {i}"}],
        stream=True,
    ) as resp:
        slot = resp.headers["x-slipway-slot"]
        models: set[str] = set()
        chunks = 0
        finish = None
        async for chunk in await resp.parse():
            models.add(chunk.model)
            chunks += 1
            if chunk.choices and chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        return slot, models, chunks, finish


async def test_switching_back_and_forth_under_streaming_load_fails_nothing(gateway: Gateway) -> None:
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
    admin = httpx.AsyncClient(base_url=gateway.url)
    probe = httpx.AsyncClient(base_url=gateway.url)
    try:
        streams: list[asyncio.Task[tuple[str, set[str], int, str | None]]] = []
        lagging: list[tuple[str, str]] = []
        for round_ in range(20):
            streams += [asyncio.create_task(one_stream(client, round_ * 4 + k)) for k in range(4)]
            await asyncio.sleep(0.02)
            r = await admin.post("/admin/rollback", json={"reason": f"drill {round_}"})
            assert r.status_code == 200, r.text
            target = r.json()["to"]
            # The very next request after the admin call returned must be on the new slot.
            nxt = await probe.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": [{"role": "user", "content": "parcel"}]},
            )
            assert nxt.status_code == 200
            if nxt.headers["x-slipway-slot"] != target:
                lagging.append((target, nxt.headers["x-slipway-slot"]))
        results = await asyncio.gather(*streams)
    finally:
        await client.close()
        await admin.aclose()
        await probe.aclose()

    assert lagging == []
    assert len(results) == 80
    slots_used = {slot for slot, *_ in results}
    assert slots_used == {"blue", "green"}, "switches must have landed while streams were starting"
    for slot, models, chunks, finish in results:
        assert models == {MODEL_OF[slot]}, f"a stream that started on {slot} was served by {models}"
        assert finish == "stop" and chunks >= 40

    status = httpx.get(f"{gateway.url}/admin/status").json()
    assert status["route"]["version"] >= 21
    history = httpx.get(f"{gateway.url}/admin/history", params={"limit": 50}).json()["changes"]
    assert sum(c["kind"] == "rollback" for c in history) == 20
