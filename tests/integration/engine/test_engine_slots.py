"""Blue and green as two adapters on one warm llama-server that slipway runs (AD1, AD3).

Real parts only: the tiny GGUF model and adapters built by the project's own
script, llama.cpp's llama-server started by `slipway serve`'s runtime from the
`engines:` section, the official `openai` client through the gateway. The
reference outputs come from the same engine asked directly with an explicit
`lora` list, so "the gateway picked the right adapter" is checked bit for bit.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import openai
import pytest
from tests.harness import Gateway, live_gateway, tiny_engine_yaml
from tests.processes import run_cli

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.scenario import smoke_cases
from slipway.demo.tickets import Ticket, held_out_tickets
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models

pytestmark = pytest.mark.llama

TICKETS = held_out_tickets(60, seed=3)
SCALES = {"blue": (1.0, 0.0), "green": (0.0, 1.0)}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    if find_llama_server() is None:
        install_llama_server()
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


def engine_yaml(models: TinyModelPaths, active: str = "blue") -> str:
    return tiny_engine_yaml(models, green="v2.2", active=active)


@pytest.fixture
def gateway(tmp_path: Path, models: TinyModelPaths) -> Iterator[Gateway]:
    with live_gateway(tmp_path, engine_yaml(models)) as gw:
        yield gw


def engine_url(gw: Gateway) -> str:
    url: str = httpx.get(f"{gw.url}/admin/status").json()["engines"]["support"]["url"]
    return url


async def direct(url: str, tickets: Sequence[Ticket], scales: tuple[float, ...]) -> list[str]:
    """What the engine answers when asked directly with an explicit adapter choice."""
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        out = []
        for t in tickets:
            r = await client.post(
                "/v1/completions",
                json={
                    "prompt": t.prompt,
                    "max_tokens": 4,
                    "temperature": 0,
                    "cache_prompt": False,
                    "lora": [{"id": i, "scale": s} for i, s in enumerate(scales)],
                },
            )
            r.raise_for_status()
            out.append(r.json()["choices"][0]["text"])
        return out


async def via_gateway(
    client: openai.AsyncOpenAI, ticket: Ticket, *, slot: str | None = None, stream: bool = False
) -> tuple[str, str]:
    """(slot that served it, completion text) through slipway."""
    headers = {"X-Slipway-Slot": slot} if slot else {}
    extra = {"cache_prompt": False}
    if not stream:
        raw = await client.completions.with_raw_response.create(
            model="customer-support",
            prompt=ticket.prompt,
            max_tokens=4,
            temperature=0,
            extra_headers=headers,
            extra_body=extra,
        )
        return raw.headers["x-slipway-slot"], raw.parse().choices[0].text
    async with client.completions.with_streaming_response.create(
        model="customer-support",
        prompt=ticket.prompt,
        max_tokens=4,
        temperature=0,
        stream=True,
        extra_headers=headers,
        extra_body=extra,
    ) as resp:
        text = "".join([c.choices[0].text async for c in await resp.parse() if c.choices])
        return resp.headers["x-slipway-slot"], text


async def test_each_slot_reproduces_its_adapters_outputs(gateway: Gateway) -> None:
    url = engine_url(gateway)
    expected = {name: await direct(url, TICKETS, scales) for name, scales in SCALES.items()}
    assert expected["blue"] != expected["green"], "the two adapters must disagree somewhere"
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0) as client:
        for name in ("blue", "green"):
            got = [await via_gateway(client, t, slot=name) for t in TICKETS]
            assert [s for s, _ in got] == [name] * len(TICKETS)
            assert [text for _, text in got] == expected[name]


async def test_rollback_during_streaming_restores_the_old_adapter_bit_for_bit(gateway: Gateway) -> None:
    url = engine_url(gateway)
    expected = {name: await direct(url, TICKETS, scales) for name, scales in SCALES.items()}
    results: list[tuple[int, str, str]] = []
    async with (
        openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0) as client,
        httpx.AsyncClient(base_url=gateway.url) as admin,
    ):

        async def traffic(worker: int) -> None:
            for i in range(worker, len(TICKETS), 4):
                slot, text = await via_gateway(client, TICKETS[i], stream=True)
                results.append((i, slot, text))

        async def flip() -> None:
            for _ in range(5):
                await asyncio.sleep(0.03)
                r = await admin.post("/admin/rollback", json={"reason": "drill"})
                assert r.status_code == 200, r.text

        await asyncio.gather(*(traffic(w) for w in range(4)), flip())
        # Effective at once: the first request after the rollback returns is on the old adapter.
        r = await admin.post("/admin/rollback", json={"to": "blue", "reason": "final"})
        slot, text = await via_gateway(client, TICKETS[0])
    assert r.status_code == 200 and slot == "blue" and text == expected["blue"][0]
    assert len(results) == len(TICKETS)
    assert {slot for _, slot, _ in results} == {"blue", "green"}
    for i, slot, text in results:
        assert text == expected[slot][i], (i, slot)


async def test_a_killed_engine_is_restarted_and_serves_again(gateway: Gateway) -> None:
    before = httpx.get(f"{gateway.url}/admin/status").json()["engines"]["support"]
    os.kill(before["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        now = httpx.get(f"{gateway.url}/admin/status").json()["engines"]["support"]
        if now["ready"] and now["restarts"] >= 1 and now["pid"] != before["pid"]:
            break
        assert time.monotonic() < deadline, f"engine not restarted: {now}"
        await asyncio.sleep(0.1)
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="x", max_retries=0) as client:
        slot, text = await via_gateway(client, TICKETS[0])
    assert slot == "blue" and text == (await direct(now["url"], TICKETS[:1], SCALES["blue"]))[0]


def test_an_adapter_for_another_base_stops_the_start_with_a_clear_error(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    wrong = engine_yaml(models).replace(str(models.v2_2), str(models.wrong_base_adapter))
    wrong = wrong.replace("adapter: v2.2}", f"adapter: {models.wrong_base_adapter.name}}}")
    (tmp_path / "slipway.yaml").write_text(wrong)
    out = run_cli(None, ["serve", "--config", "slipway.yaml", "--port", "0"], cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert "base-identity" in out.stderr and models.wrong_base_adapter.name in out.stderr
    assert "Traceback" not in out.stderr


def one_adapter_yaml(models: TinyModelPaths) -> str:
    return (
        engine_yaml(models)
        .replace(f", {models.v2_2}]", "]")
        .replace(
            "green: {model: customer-support-v2.2, engine: support, adapter: v2.2}",
            "green: {model: customer-support-v2.1, engine: support, adapter: v2.1}",
        )
    )


async def test_deploying_an_adapter_the_engine_has_not_loaded_starts_a_verified_engine_for_it(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    smoke = "".join(json.dumps(c) + "\n" for c in smoke_cases(0))
    with live_gateway(tmp_path, one_adapter_yaml(models)) as gw:
        async with httpx.AsyncClient(base_url=gw.url, timeout=60) as admin:
            r = await admin.post(
                "/admin/deploy",
                json={
                    "version": "v2.2",
                    "strategy": "bluegreen",
                    "slot": "green",
                    "model": "customer-support-v2.2",
                    "adapter": str(models.v2_2),
                    "smoke_jsonl": smoke,
                },
            )
            assert r.status_code == 200, r.text
            engines = (await admin.get("/admin/status")).json()["engines"]
        assert set(engines) == {"support", "support-v2.2"}
        assert engines["support-v2.2"]["adapters"] == [models.v2_2.name]
        expected_v22 = await direct(engines["support-v2.2"]["url"], TICKETS[:10], (1.0,))
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0) as client:
            got = [await via_gateway(client, t) for t in TICKETS[:10]]
        assert got == [("green", text) for text in expected_v22]

    # A restart brings the deployed engine back; rollback is still a route change.
    with live_gateway(tmp_path, None) as gw:
        engines = httpx.get(f"{gw.url}/admin/status").json()["engines"]
        assert set(engines) == {"support", "support-v2.2"}
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0) as client:
            assert (await via_gateway(client, TICKETS[0]))[0] == "green"
            assert httpx.post(f"{gw.url}/admin/rollback", json={}).status_code == 200
            slot, text = await via_gateway(client, TICKETS[0])
        assert slot == "blue"
        assert text == (await direct(engines["support"]["url"], TICKETS[:1], (1.0,)))[0]


async def replace_the_deployed_engine(gw: Gateway, models: TinyModelPaths) -> int:
    """v2.2 deployed into green on an engine of its own, rolled back, then green redeployed with v2.1's file
    (an engine of its own again: the one green was on has only v2.2)."""
    async with httpx.AsyncClient(base_url=gw.url, timeout=60) as admin:
        r = await admin.post(
            "/admin/deploy",
            json={"version": "v2.2", "slot": "green", "adapter": str(models.v2_2), "no_smoke": True},
        )
        assert r.status_code == 200, r.text
        engines = (await admin.get("/admin/status")).json()["engines"]
        assert set(engines) == {"support", "support-v2.2"}
        assert (await admin.post("/admin/rollback", json={})).status_code == 200
        r = await admin.post(
            "/admin/deploy",
            json={
                "version": "v2.1b",
                "slot": "green",
                "adapter": str(models.v2_1),
                "no_smoke": True,
                "switch": False,
            },
        )
        assert r.status_code == 200, r.text
    pid: int = engines["support-v2.2"]["pid"]
    return pid


async def test_an_engine_a_deploy_started_stops_after_its_slot_is_replaced(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    # green's read timeout (2 s) is how long requests already on the old engine get to finish.
    green = "green: {model: customer-support-v2.1, engine: support, adapter: v2.1"
    config = one_adapter_yaml(models).replace(green + "}", green + ", timeouts: {read: 2}}")
    assert "timeouts: {read: 2}" in config
    with live_gateway(tmp_path, config) as gw:
        pid = await replace_the_deployed_engine(gw, models)
        assert pid_alive(pid), "stopped before its drain time"
        deadline = time.monotonic() + 20
        while pid_alive(pid) or "support-v2.2" in httpx.get(f"{gw.url}/admin/status").json()["engines"]:
            assert time.monotonic() < deadline, "the replaced engine is still running"
            await asyncio.sleep(0.2)
        assert len(httpx.get(f"{gw.url}/admin/status").json()["engines"]) == 2  # support, green's new one
    with live_gateway(tmp_path, None) as gw:
        assert "support-v2.2" not in httpx.get(f"{gw.url}/admin/status").json()["engines"]


async def test_a_restart_does_not_bring_back_an_engine_no_slot_uses(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    # Stopped inside the drain time (the default read timeout is 5 minutes).
    with live_gateway(tmp_path, one_adapter_yaml(models)) as gw:
        await replace_the_deployed_engine(gw, models)
        assert "support-v2.2" in httpx.get(f"{gw.url}/admin/status").json()["engines"]
    with live_gateway(tmp_path, None) as gw:
        status = httpx.get(f"{gw.url}/admin/status").json()
        green = next(s for s in status["slots"] if s["name"] == "green")
        assert set(status["engines"]) == {"support", green["endpoint"].removeprefix("engine://")}
        assert "support-v2.2" not in status["engines"]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_a_failed_candidate_engine_is_stopped_again(tmp_path: Path, models: TinyModelPaths) -> None:
    failing = json.dumps({"id": "x", "completion": "ticket: hello intent:", "expect": {"regex": "^never$"}})
    with live_gateway(tmp_path, one_adapter_yaml(models)) as gw:
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "slot": "green", "adapter": str(models.v2_2), "smoke_jsonl": failing},
            timeout=60,
        )
        assert r.status_code == 422, r.text
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert set(status["engines"]) == {"support"}
        green = next(s for s in status["slots"] if s["name"] == "green")
        assert green["endpoint"] == "engine://support" and green["adapter"] == "v2.1"


async def test_adapters_rollback_by_version_is_a_route_change_on_the_warm_engine(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    # v2.2 is live on blue; green runs the bare base. Both adapters are loaded in one engine.
    text = (
        engine_yaml(models)
        .replace(
            "blue: {model: customer-support-v2.1, engine: support, adapter: v2.1}",
            "blue: {model: customer-support-v2.2, engine: support, adapter: v2.2}",
        )
        .replace(
            "green: {model: customer-support-v2.2, engine: support, adapter: v2.2}",
            "green: {model: customer-support-base, engine: support}",
        )
    )
    with live_gateway(tmp_path, text) as gw:
        url = engine_url(gw)
        pid = httpx.get(f"{gw.url}/admin/status").json()["engines"]["support"]["pid"]
        back = run_cli(gw.url, ["adapters", "rollback", "--to", "v2.1", "--reason", "billing"])
        assert back.returncode == 0, back.stderr
        assert "green" in back.stdout and "v2.1" in back.stdout
        async with openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key="x", max_retries=0) as client:
            got = [await via_gateway(client, t) for t in TICKETS[:8]]
            expected = await direct(url, TICKETS[:8], SCALES["blue"])
            assert got == [("green", t) for t in expected]
            again = run_cli(gw.url, ["adapters", "rollback"])
            assert again.returncode == 0, again.stderr
            slot, answer = await via_gateway(client, TICKETS[0])
        assert slot == "blue" and answer == (await direct(url, TICKETS[:1], SCALES["green"]))[0]
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["engines"]["support"]["pid"] == pid, "no engine restart"
        history = httpx.get(f"{gw.url}/admin/history").json()["changes"]
        assert [c["kind"] for c in history[:3]] == ["rollback", "rollback", "slot"], history[:3]
        table = run_cli(gw.url, ["status"])
        assert table.returncode == 0 and "engines" in table.stdout and "RSS MB" in table.stdout
        assert status["engines"]["support"]["rss_mb"] > 0
        missing = run_cli(gw.url, ["adapters", "rollback", "--to", "v9.9"])
        assert missing.returncode == 1 and "v9.9" in missing.stderr
