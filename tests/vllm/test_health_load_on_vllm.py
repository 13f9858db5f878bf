"""A vLLM slot's health says how busy the server is, read from vLLM's own /metrics.

Against the real server: an idle adapter is reported idle with the KV cache
and queue beside it, and while a long request streams on it, the same check
reports it running.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.vllm.gateway_setup import load_adapter
from tests.vllm_server import VllmServer

from slipway.backends.vllm import VllmBackend
from slipway.core.types import BackendKind, Slot

NAME = "health-v2.1"
GUARD_S = 120.0


@pytest.fixture
async def backend() -> AsyncIterator[VllmBackend]:
    async with httpx.AsyncClient() as client:
        yield VllmBackend(client)


async def test_health_names_the_kv_cache_the_queue_and_whether_the_adapter_is_running(
    vllm: VllmServer, backend: VllmBackend
) -> None:
    load_adapter(vllm, NAME, "v2.1")
    slot = Slot(name="blue", endpoint=vllm.url, model=NAME, kind=BackendKind.VLLM, adapter="v2.1")

    idle = await backend.check(slot)
    assert idle.ready, idle.detail
    assert "KV cache" in idle.detail and "running / " in idle.detail, idle.detail
    assert f"adapter {NAME!r} idle" in idle.detail, idle.detail

    started, seen = asyncio.Event(), []

    async def long_request() -> None:
        # ignore_eos keeps the tiny model generating, so the request stays running while it is checked.
        body = {"model": NAME, "prompt": "ticket: refund intent:", "max_tokens": 480, "temperature": 0,
                "ignore_eos": True, "stream": True}  # fmt: skip
        async with (
            httpx.AsyncClient(timeout=GUARD_S) as client,
            client.stream("POST", f"{vllm.url}/v1/completions", json=body) as resp,
        ):
            async for _ in resp.aiter_lines():
                started.set()

    task = asyncio.create_task(long_request())
    await asyncio.wait_for(started.wait(), GUARD_S)
    async with asyncio.timeout(GUARD_S):
        while not task.done():
            health = await backend.check(slot)
            if f"adapter {NAME!r} running" in health.detail:
                seen.append(health.detail)
                break
            await asyncio.sleep(0.02)
    await task
    assert seen, "the adapter was never reported running while its request streamed"
