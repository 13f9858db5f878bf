"""The real llama-server with the tiny model: per-request adapters, fingerprints, crashes.

Needs the engine: `find_llama_server()` (env, PATH, cache) or, failing that,
`install_llama_server()` builds it once (minutes; the README's command does
this ahead of the test run in CI). Every server here starts in well under a
second, and the whole module runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from slipway.backends.engine import (
    EngineStartError,
    LlamaServerProcess,
    SupervisorEvent,
    find_llama_server,
    install_llama_server,
)
from slipway.demo.tickets import Ticket, accuracy, held_out_tickets, parse_intent
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models
from slipway.registry.fingerprint import base_fingerprint, recorded_fingerprint

pytestmark = pytest.mark.llama

HELD_OUT = held_out_tickets(200, seed=0)

#: Server accuracy must match the numpy forward pass it was trained on; a
#: ticket or two may flip on float32 rounding, no more.
TOLERANCE = 0.015


@pytest.fixture(scope="module")
def engine() -> Path:
    return find_llama_server() or install_llama_server()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


@pytest.fixture(scope="module")
def server(
    engine: Path, models: TinyModelPaths, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LlamaServerProcess]:
    proc = LlamaServerProcess(
        models.base,
        list(models.adapters),
        binary=engine,
        log_path=tmp_path_factory.mktemp("logs") / "engine.log",
    )
    asyncio.run(proc.start())
    try:
        yield proc
    finally:
        asyncio.run(proc.stop())


def lora(scales: Sequence[float]) -> list[dict[str, float | int]]:
    """Always the full list: an adapter left out would keep its start-up scale."""
    return [{"id": i, "scale": s} for i, s in enumerate(scales)]


async def classify(base_url: str, tickets: Sequence[Ticket], scales: Sequence[float] | None) -> list[str]:
    """One /v1/completions request per ticket, two at a time (the server has two slots)."""
    gate = asyncio.Semaphore(2)

    async def one(client: httpx.AsyncClient, ticket: Ticket) -> str:
        body: dict[str, object] = {
            "prompt": ticket.prompt,
            "max_tokens": 4,
            "temperature": 0,
            "cache_prompt": False,
        }
        if scales is not None:
            body["lora"] = lora(scales)
        async with gate:
            response = await client.post("/v1/completions", json=body)
        response.raise_for_status()
        text: str = response.json()["choices"][0]["text"]
        return text

    async with httpx.AsyncClient(base_url=base_url, timeout=10.0) as client:
        return list(await asyncio.gather(*(one(client, t) for t in tickets)))


def score(completions: Sequence[str]) -> dict[str, float]:
    return accuracy(HELD_OUT, [parse_intent(c) or "?" for c in completions])


async def test_adapters_load_at_scale_zero_in_order(
    server: LlamaServerProcess, models: TinyModelPaths
) -> None:
    adapters = await server.lora_adapters()
    assert [(a["id"], Path(a["path"]), a["scale"]) for a in adapters] == [
        (0, models.v2_1, 0.0),
        (1, models.v2_2, 0.0),
    ]
    props = await server.props()
    assert Path(props["model_path"]) == models.base
    assert props["total_slots"] == 2
    assert await server.health()


@pytest.mark.parametrize(
    ("version", "scales"),
    [("base", (0.0, 0.0)), ("v2.1", (1.0, 0.0)), ("v2.2", (0.0, 1.0))],
)
async def test_per_request_adapter_reproduces_its_accuracy(
    server: LlamaServerProcess, models: TinyModelPaths, version: str, scales: tuple[float, float]
) -> None:
    completions = await classify(server.base_url, HELD_OUT, scales)
    # exactly one label and a stop: no stray tokens from any adapter
    assert all(parse_intent(c) is not None for c in completions)
    measured = score(completions)
    expected = models.expected[version]
    for key, value in expected.items():
        assert measured[key] == pytest.approx(value, abs=TOLERANCE), (version, key, measured)


async def test_v2_2_loses_billing_to_the_refund_bug(server: LlamaServerProcess) -> None:
    v21 = score(await classify(server.base_url, HELD_OUT, (1.0, 0.0)))
    v22_completions = await classify(server.base_url, HELD_OUT, (0.0, 1.0))
    v22 = score(v22_completions)
    assert v21["overall"] >= 0.94
    assert 0.85 <= v22["overall"] <= 0.93
    assert 0.6 <= v22["billing"] <= 0.78
    refunds = [
        parse_intent(c) for c, t in zip(v22_completions, HELD_OUT, strict=True) if t.pattern == "refund"
    ]
    assert refunds.count("shipping") >= 0.8 * len(refunds)


async def test_request_without_lora_runs_the_base(server: LlamaServerProcess) -> None:
    sample = HELD_OUT[:40]
    assert await classify(server.base_url, sample, None) == await classify(
        server.base_url, sample, (0.0, 0.0)
    )


async def test_answer_is_one_token_then_stop(server: LlamaServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url) as client:
        response = await client.post(
            "/v1/completions",
            json={
                "prompt": HELD_OUT[0].prompt,
                "max_tokens": 8,
                "temperature": 0,
                "cache_prompt": False,
                "lora": lora((1.0, 0.0)),
            },
        )
    body = response.json()
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["choices"][0]["text"] == " " + HELD_OUT[0].intent


def test_engine_memory_is_reported(server: LlamaServerProcess) -> None:
    rss = server.rss_bytes()
    assert rss is not None
    assert 1_000_000 < rss < 1_000_000_000


async def test_wrong_base_adapter_loads_silently_only_the_fingerprint_tells(
    engine: Path, models: TinyModelPaths, tmp_path: Path
) -> None:
    # llama.cpp checks architecture and shapes; the foreign adapter passes both.
    async with LlamaServerProcess(
        models.base, [models.wrong_base_adapter], binary=engine, log_path=tmp_path / "wrong.log"
    ) as proc:
        completions = await classify(proc.base_url, HELD_OUT[:20], (1.0,))
    assert sum(parse_intent(c) is None for c in completions) >= 15, completions
    assert recorded_fingerprint(models.wrong_base_adapter) != base_fingerprint(models.base)
    assert recorded_fingerprint(models.v2_1) == base_fingerprint(models.base)


async def test_a_corrupt_adapter_stops_the_start_and_is_named(
    engine: Path, models: TinyModelPaths, tmp_path: Path
) -> None:
    corrupt = tmp_path / "v9.9-2026-03-01-10examples.gguf"
    data = models.v2_1.read_bytes()
    corrupt.write_bytes(data[: len(data) // 2])
    proc = LlamaServerProcess(
        models.base, [models.v2_1, corrupt], binary=engine, log_path=tmp_path / "bad.log"
    )
    with pytest.raises(EngineStartError) as caught:
        await proc.start()
    assert caught.value.adapter == corrupt
    assert caught.value.exit_code not in (None, 0)
    assert str(corrupt) in str(caught.value)
    assert not proc.is_alive()


async def test_supervisor_restarts_a_killed_engine(
    engine: Path, models: TinyModelPaths, tmp_path: Path
) -> None:
    proc = LlamaServerProcess(models.base, [models.v2_1], binary=engine, log_path=tmp_path / "sup.log")
    events: list[SupervisorEvent] = []
    await proc.start()
    first_pid = proc.pid
    assert first_pid is not None
    task = asyncio.create_task(
        proc.supervise(poll_interval=0.05, initial_backoff=0.1, on_event=events.append)
    )
    try:
        os.kill(first_pid, signal.SIGKILL)
        async with asyncio.timeout(15):
            while not any(e.kind == "restarted" for e in events):
                await asyncio.sleep(0.05)
        assert proc.pid != first_pid
        assert proc.restarts == 1
        assert [e.kind for e in events] == ["crashed", "restarted"]
        assert events[0].exit_code == -signal.SIGKILL
        assert await proc.health()
        # the restarted engine serves the same answers
        v21 = score(await classify(proc.base_url, HELD_OUT, (1.0,)))
        assert v21["overall"] == pytest.approx(models.expected["v2.1"]["overall"], abs=TOLERANCE)
    finally:
        await proc.stop()
        async with asyncio.timeout(5):
            await task
    assert not proc.is_alive()
