"""The official `openai` and `ollama` clients work against slipway unchanged (GW1, GW2)."""

from __future__ import annotations

import httpx
import ollama
import openai
from tests.harness import Gateway


def _openai(gateway: Gateway) -> openai.OpenAI:
    client = openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused")
    gateway.closers.append(client.close)
    return client


def test_openai_chat_non_streaming(gateway: Gateway) -> None:
    client = _openai(gateway)
    raw = client.chat.completions.with_raw_response.create(
        model="customer-support",
        messages=[{"role": "user", "content": "ticket: i want a refund for my invoice intent:"}],
    )
    completion = raw.parse()
    assert completion.choices[0].message.content is not None
    assert completion.choices[0].message.content.startswith("billing")
    assert raw.headers["x-slipway-slot"] == "blue"
    assert raw.headers["x-slipway-version"] == "customer-support-v2.1"
    assert len(raw.headers["x-slipway-request-id"]) == 24


def test_openai_chat_streaming(gateway: Gateway) -> None:
    client = _openai(gateway)
    stream = client.chat.completions.create(
        model="customer-support",
        messages=[{"role": "user", "content": "where is my parcel"}],
        stream=True,
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.startswith("shipping")


def test_openai_completions_both_ways(gateway: Gateway) -> None:
    client = _openai(gateway)
    done = client.completions.create(model="x", prompt="ticket: refund please intent:")
    assert done.choices[0].text.strip().startswith("billing")
    streamed = "".join(
        c.choices[0].text
        for c in client.completions.create(model="x", prompt="parcel late", stream=True)
        if c.choices
    )
    assert streamed.strip().startswith("shipping")


def test_openai_models_lists_public_name(gateway: Gateway) -> None:
    client = _openai(gateway)
    assert [m.id for m in client.models.list()] == ["customer-support"]


def test_openai_models_retrieve_knows_the_public_model_only(gateway: Gateway) -> None:
    client = _openai(gateway)
    assert client.models.retrieve("customer-support").id == "customer-support"
    try:
        client.models.retrieve("gpt-4o")
    except openai.NotFoundError as exc:
        assert "does not exist; this gateway serves 'customer-support'" in exc.message
    else:
        raise AssertionError("an unknown model was found")


def test_ollama_client_show_and_ps_as_tools_call_them_before_chatting(gateway: Gateway) -> None:
    client = ollama.Client(host=gateway.url)
    gateway.closers.append(client.close)
    shown = client.show("customer-support")
    assert shown.modelinfo is not None
    assert shown.modelinfo["slipway.active_slot"] == "blue"
    assert shown.modelinfo["slipway.version"] == "customer-support-v2.1"
    assert [m.model for m in client.ps().models] == ["customer-support"]
    assert httpx.post(f"{gateway.url}/api/show", content=b"{not json").status_code == 400


def test_ollama_client_chat_and_generate(gateway: Gateway) -> None:
    client = ollama.Client(host=gateway.url)
    gateway.closers.append(client.close)
    reply = client.chat(model="customer-support", messages=[{"role": "user", "content": "refund my invoice"}])
    assert reply.message.content is not None and reply.message.content.startswith("billing")
    assert reply.done
    parts = list(
        client.chat(model="customer-support", messages=[{"role": "user", "content": "parcel"}], stream=True)
    )
    assert "".join(p.message.content or "" for p in parts).startswith("shipping")
    assert parts[-1].done
    gen = client.generate(model="customer-support", prompt="refund")
    assert gen.response is not None and gen.response.startswith("billing")
    streamed = ""
    for p in client.generate(model="customer-support", prompt="parcel", stream=True):
        assert p.response is not None
        streamed += p.response
    assert streamed.startswith("shipping")
    assert [m.model for m in client.list().models] == ["customer-support"]


async def test_async_clients_and_category_header(gateway: Gateway) -> None:
    client = openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused")
    completion = await client.chat.completions.create(
        model="customer-support",
        messages=[{"role": "user", "content": "my thing is broken"}],
        extra_headers={"X-Slipway-Category": "technical"},
    )
    assert completion.choices[0].message.content == "technical"
    await client.close()
    aclient = ollama.AsyncClient(host=gateway.url)
    reply = await aclient.chat(
        model="m", messages=[{"role": "user", "content": "x"}], options={"temperature": 0}
    )
    await aclient.close()
    assert reply.message.content


async def test_every_request_is_recorded(gateway: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway.url) as http:
        r = await http.post(
            "/v1/chat/completions",
            json={"model": "m", "messages": [{"role": "user", "content": "refund"}], "user": "alice"},
            headers={"X-Slipway-Category": "billing"},
        )
        rid = r.headers["x-slipway-request-id"]
        got = await http.get(f"/admin/requests/{rid}")
        missing = await http.get("/admin/requests/no-such-id")
    assert got.status_code == 200, got.text
    rec = got.json()["request"]
    assert (rec["slot"], rec["version"], rec["status"], rec["category"], rec["sticky_key"]) == (
        "blue",
        "customer-support-v2.1",
        200,
        "billing",
        "alice",
    )
    assert rec["output_head"] == "billing" and rec["latency_ms"] > 0 and rec["ttft_ms"] is not None
    assert missing.status_code == 404 and "X-Slipway-Request-Id" in missing.json()["error"]["hint"]
