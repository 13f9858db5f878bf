"""A failing backend reaches the client as its own API's error and is recorded against the slot (GW1, GW2).

Every failure is real: a port that refuses connections, a sim that hangs past
the slot's read timeout, a sim that answers 5xx, and a `slipway sim serve`
child process killed with SIGKILL while it is answering. The official
`openai` and `ollama` clients must raise — never return a truncated answer as
if it were whole — and `GET /admin/requests/{id}` must show the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import ollama
import openai
import orjson
import pytest
from tests.faults import (
    SimProcess,
    profile_yaml,
    refusing_endpoint,
    request_record,
    sim_process,
    single_slot_yaml,
)
from tests.harness import Gateway, live_gateway, sim_backend
from tests.servers import run_asgi

MODEL = "customer-support"
MESSAGES: Any = [{"role": "user", "content": "I want a refund for my invoice"}]
REQUEST_ID = "x-slipway-request-id"


@dataclass(frozen=True)
class Failure:
    status: int
    #: The error code the client sees.
    code: str
    #: The error the record keeps.
    error: str
    #: Words the error message must contain, besides the slot's name.
    says: str


FAILURES = {
    "refused": Failure(502, "backend_unavailable", "backend_unavailable", "is unreachable"),
    "timeout": Failure(
        504, "backend_timeout", "backend_timeout", "sent no data for 0.2s; raise slots.blue.timeouts.read"
    ),
    "http-500": Failure(
        502, "upstream_error", "upstream_500", "answered HTTP 500: The simulated server had an error"
    ),
    "http-503": Failure(502, "upstream_error", "upstream_503", "answered HTTP 503: The simulated server is"),
}


def failing_profile(mode: str) -> str:
    return profile_yaml(error_rate=1.0, error_mode=mode, hang_s=5)


@pytest.fixture(scope="module", params=list(FAILURES))
def failing(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(failure, gateway) with the only slot's backend failing that way on every request."""
    name: str = request.param
    with contextlib.ExitStack() as stack:
        if name == "refused":
            url = stack.enter_context(refusing_endpoint())
        else:
            mode = {"timeout": "timeout", "http-500": "500", "http-503": "503"}[name]
            url = stack.enter_context(sim_backend(failing_profile(mode)))
        config = single_slot_yaml(url, connect_s=1, read_s=0.2)
        gateway = stack.enter_context(live_gateway(tmp_path_factory.mktemp(name), config))
        yield FAILURES[name], gateway


def openai_client(url: str) -> openai.OpenAI:
    # No retries: a retry would hide what one request saw, and write a second record.
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def ollama_client(url: str, ids: list[str]) -> ollama.Client:
    """An `ollama` client that notes each response's request id (ResponseError does not carry headers)."""

    def note(response: httpx.Response) -> None:
        ids.append(response.headers.get(REQUEST_ID, ""))

    return ollama.Client(host=url, event_hooks={"response": [note]})


def assert_recorded(gateway: Gateway, request_id: str, status: int, error: str, stream: bool) -> None:
    rec = request_record(gateway, request_id)["request"]
    assert (rec["slot"], rec["status"], rec["error"], rec["stream"]) == ("blue", status, error, stream)


# --- the backend fails before answering ---------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_client_raises_an_openai_error(failing: tuple[Failure, Gateway], stream: bool) -> None:
    failure, gateway = failing
    with openai_client(gateway.url) as client, pytest.raises(openai.APIStatusError) as caught:
        if stream:
            for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True):
                pass
        else:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    exc = caught.value
    assert exc.status_code == failure.status and exc.code == failure.code
    assert isinstance(exc.body, dict) and set(exc.body) == {"message", "type", "param", "code"}
    assert "slot 'blue'" in exc.body["message"] and failure.says in exc.body["message"]
    assert exc.response.headers["x-slipway-slot"] == "blue"
    assert_recorded(gateway, exc.response.headers[REQUEST_ID], failure.status, failure.error, stream)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_ollama_client_raises_an_ollama_error(failing: tuple[Failure, Gateway], stream: bool) -> None:
    failure, gateway = failing
    ids: list[str] = []
    with ollama_client(gateway.url, ids) as client, pytest.raises(ollama.ResponseError) as caught:
        if stream:
            for _ in client.chat(model=MODEL, messages=MESSAGES, stream=True):
                pass
        else:
            client.chat(model=MODEL, messages=MESSAGES, stream=False)
    exc = caught.value
    assert exc.status_code == failure.status
    # ResponseError parsed {"error": "..."}: a malformed body would leave the raw text here.
    assert exc.error.startswith("backend of slot 'blue'") and failure.says in exc.error
    assert_recorded(gateway, ids[-1], failure.status, failure.error, stream)


def test_error_bodies_are_well_formed_in_both_apis(failing: tuple[Failure, Gateway]) -> None:
    failure, gateway = failing
    body = {"model": MODEL, "messages": MESSAGES, "stream": False}
    with httpx.Client(base_url=gateway.url) as http:
        as_openai = http.post("/v1/completions", json={"model": MODEL, "prompt": "refund"})
        as_ollama = http.post("/api/generate", json={"model": MODEL, "prompt": "refund", "stream": False})
        chat = http.post("/api/chat", json=body)
    assert as_openai.status_code == failure.status
    assert as_openai.headers["content-type"] == "application/json"
    error = as_openai.json()["error"]
    assert (error["code"], error["type"], error["param"]) == (failure.code, "api_error", None)
    for reply in (as_ollama, chat):
        assert reply.status_code == failure.status
        assert reply.headers["content-type"] == "application/json"
        assert list(reply.json()) == ["error"] and isinstance(reply.json()["error"], str)


# --- the backend dies while answering ---------------------------------------------------------

#: Forty tokens, 50 ms apart: two seconds of answer, so a kill lands in the middle of it.
SLOW = profile_yaml(output_tokens=40, stream_interval_ms=50)

STREAM_AT_KILL = 3


@pytest.fixture
def killable(tmp_path: Path) -> Iterator[tuple[SimProcess, Gateway]]:
    with (
        sim_process(tmp_path, SLOW) as sim,
        live_gateway(tmp_path, single_slot_yaml(sim.url, connect_s=1, read_s=5)) as gateway,
    ):
        yield sim, gateway


@dataclass
class Cut:
    """What one client saw of a stream that broke: the request id, text received, and the error."""

    request_id: str
    text: str
    error: Exception


async def openai_chat_stream(client: openai.AsyncOpenAI, started: Callable[[], None]) -> Cut:
    stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    parts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
                if len(parts) == STREAM_AT_KILL:
                    started()
    return Cut(stream.response.headers[REQUEST_ID], "".join(parts), caught.value)


async def openai_completions_stream(client: openai.AsyncOpenAI, started: Callable[[], None]) -> Cut:
    stream = await client.completions.create(model=MODEL, prompt="refund please", stream=True)
    parts: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].text:
                parts.append(chunk.choices[0].text)
                if len(parts) == STREAM_AT_KILL:
                    started()
    return Cut(stream.response.headers[REQUEST_ID], "".join(parts), caught.value)


async def ollama_chat_stream(client: ollama.AsyncClient, ids: list[str], started: Callable[[], None]) -> Cut:
    parts: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        async for part in await client.chat(model=MODEL, messages=MESSAGES, stream=True):
            assert not part.done, "a cut stream must not end with done=true"
            parts.append(part.message.content or "")
            if len(parts) == STREAM_AT_KILL:
                started()
    return Cut(ids[0], "".join(parts), caught.value)


async def ollama_generate_stream(
    client: ollama.AsyncClient, ids: list[str], started: Callable[[], None]
) -> Cut:
    parts: list[str] = []
    with pytest.raises(ollama.ResponseError) as caught:
        async for part in await client.generate(model=MODEL, prompt="refund please", stream=True):
            assert not part.done, "a cut stream must not end with done=true"
            assert part.response is not None
            parts.append(part.response)
            if len(parts) == STREAM_AT_KILL:
                started()
    return Cut(ids[0], "".join(parts), caught.value)


def async_ollama(url: str, ids: list[str]) -> ollama.AsyncClient:
    async def note(response: httpx.Response) -> None:
        ids.append(response.headers.get(REQUEST_ID, ""))

    return ollama.AsyncClient(host=url, event_hooks={"response": [note]})


async def test_killed_mid_stream_every_client_gets_a_terminating_error(
    killable: tuple[SimProcess, Gateway],
) -> None:
    sim, gateway = killable
    async with contextlib.AsyncExitStack() as stack:
        oa = await stack.enter_async_context(
            openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
        )
        chat_ids: list[str] = []
        generate_ids: list[str] = []
        ol_chat = await stack.enter_async_context(async_ollama(gateway.url, chat_ids))
        ol_generate = await stack.enter_async_context(async_ollama(gateway.url, generate_ids))
        waiting = asyncio.Semaphore(0)
        runs: list[Awaitable[Cut]] = [
            openai_chat_stream(oa, waiting.release),
            openai_completions_stream(oa, waiting.release),
            ollama_chat_stream(ol_chat, chat_ids, waiting.release),
            ollama_generate_stream(ol_generate, generate_ids, waiting.release),
        ]
        tasks = [asyncio.ensure_future(run) for run in runs]
        async with asyncio.timeout(10):
            for _ in tasks:
                await waiting.acquire()
        sim.kill()  # SIGKILL: no graceful close, the sockets just go away
        async with asyncio.timeout(10):
            cuts = await asyncio.gather(*tasks)

    openai_chat, openai_completions, ollama_chat, ollama_generate = cuts
    for cut in (openai_chat, openai_completions):
        # The SSE `data: {"error": ...}` event: the client raises APIError (not a connection error).
        assert type(cut.error) is openai.APIError
        assert cut.error.code == "stream_interrupted" and cut.error.type == "server_error"
        assert "slot 'blue' failed mid-stream" in cut.error.message
        assert "the answer is incomplete" in cut.error.message
    for cut in (ollama_chat, ollama_generate):
        assert isinstance(cut.error, ollama.ResponseError)
        assert "slot 'blue' failed mid-stream" in cut.error.error
    for cut, api in zip(
        cuts, ["openai.chat", "openai.completions", "ollama.chat", "ollama.generate"], strict=True
    ):
        assert len(cut.text.split()) >= STREAM_AT_KILL
        rec = request_record(gateway, cut.request_id)["request"]
        assert (rec["slot"], rec["api"], rec["stream"]) == ("blue", api, True)
        assert (rec["error"], rec["aborted"]) == ("stream_interrupted", True), rec
        assert rec["output_chars"] >= len(cut.text.strip()) > 0


async def test_killed_before_a_whole_answer_every_client_gets_an_error(
    killable: tuple[SimProcess, Gateway],
) -> None:
    sim, gateway = killable
    ids: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        oa = await stack.enter_async_context(
            openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0)
        )
        ol = await stack.enter_async_context(async_ollama(gateway.url, ids))

        async def openai_whole() -> openai.APIStatusError:
            with pytest.raises(openai.APIStatusError) as caught:
                await oa.chat.completions.create(model=MODEL, messages=MESSAGES)
            return caught.value

        async def ollama_whole() -> ollama.ResponseError:
            with pytest.raises(ollama.ResponseError) as caught:
                await ol.generate(model=MODEL, prompt="refund please", stream=False)
            return caught.value

        openai_task, ollama_task = (
            asyncio.ensure_future(openai_whole()),
            asyncio.ensure_future(ollama_whole()),
        )
        async with httpx.AsyncClient() as http, asyncio.timeout(10):
            while (await http.get(f"{sim.url}/sim/stats")).json()["requests"] < 2:
                await asyncio.sleep(0.02)
        sim.kill()
        async with asyncio.timeout(10):
            from_openai, from_ollama = await asyncio.gather(openai_task, ollama_task)

    assert from_openai.status_code == 502 and from_openai.code == "backend_disconnected"
    assert isinstance(from_openai.body, dict)
    assert "slot 'blue'" in from_openai.body["message"]
    assert "dropped the connection before answering" in from_openai.body["message"]
    assert from_ollama.status_code == 502 and "dropped the connection" in from_ollama.error
    for request_id, api in (
        (from_openai.response.headers[REQUEST_ID], "openai.chat"),
        (ids[0], "ollama.generate"),
    ):
        rec = request_record(gateway, request_id)["request"]
        assert (rec["slot"], rec["api"], rec["stream"], rec["status"]) == ("blue", api, False, 502)
        assert (rec["error"], rec["aborted"]) == ("backend_disconnected", True)


def test_a_whole_answer_cut_halfway_is_an_error_not_a_short_answer(tmp_path: Path) -> None:
    """The sim sends half the JSON body it announced, then drops the connection."""
    profile = profile_yaml(error_rate=1.0, error_mode="disconnect_mid_stream", output_tokens=4)
    ids: list[str] = []
    with (
        sim_backend(profile) as url,
        live_gateway(tmp_path, single_slot_yaml(url)) as gateway,
        openai_client(gateway.url) as oa,
        ollama_client(gateway.url, ids) as ol,
    ):
        with pytest.raises(openai.APIStatusError) as caught:
            oa.chat.completions.create(model=MODEL, messages=MESSAGES)
        with pytest.raises(ollama.ResponseError) as caught_ollama:
            ol.chat(model=MODEL, messages=MESSAGES, stream=False)
        assert caught.value.status_code == 502 and caught.value.code == "stream_interrupted"
        assert caught_ollama.value.status_code == 502
        assert "failed while answering" in caught_ollama.value.error
        for request_id in (caught.value.response.headers[REQUEST_ID], ids[0]):
            rec = request_record(gateway, request_id)["request"]
            assert (rec["status"], rec["error"], rec["aborted"]) == (502, "stream_interrupted", True)


def test_a_stream_that_stalls_past_the_read_timeout_ends_in_an_error_event(tmp_path: Path) -> None:
    """First token at once, the next one 0.7 s later; the slot allows 0.3 s between bytes."""
    stall = profile_yaml(output_tokens=2, stream_interval_ms=700)
    ids: list[str] = []
    with (
        sim_backend(stall) as url,
        live_gateway(tmp_path, single_slot_yaml(url, read_s=0.3)) as gateway,
        openai_client(gateway.url) as oa,
        ollama_client(gateway.url, ids) as ol,
    ):
        stream = oa.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        texts: list[str] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                texts.extend(c.delta.content or "" for c in chunk.choices)
        assert type(caught.value) is openai.APIError and caught.value.code == "backend_timeout"
        assert "no data for 0.3s" in caught.value.message
        assert "".join(texts) == "billing"
        with pytest.raises(ollama.ResponseError) as caught_ollama:
            for _ in ol.chat(model=MODEL, messages=MESSAGES, stream=True):
                pass
        assert "no data for 0.3s" in caught_ollama.value.error
        for request_id in (stream.response.headers[REQUEST_ID], ids[0]):
            rec = request_record(gateway, request_id)["request"]
            assert (rec["status"], rec["error"], rec["aborted"]) == (200, "backend_timeout", True)
            assert rec["output_head"] == "billing"


#: One streamed token of an OpenAI-compatible answer.
FIRST_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "bill"}, "finish_reason": None}],
}


def sse_backend(*events: bytes) -> Any:
    """An OpenAI-compatible server that answers every request with these SSE `data:` events, then closes."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for event in events:
            await send({"type": "http.response.body", "body": b"data: " + event + b"\n\n", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


def erroring_backend(then_done: bool) -> Any:
    """Streams one token, then reports its own error as an SSE event.

    llama.cpp ends the stream there; vLLM sends [DONE] after it (`then_done`).
    """
    error = {"error": {"message": "context size exceeded", "type": "server_error", "code": 500}}
    done = [b"[DONE]"] if then_done else []
    return sse_backend(orjson.dumps(FIRST_CHUNK), orjson.dumps(error), *done)


@pytest.mark.parametrize("then_done", [False, True], ids=["llama.cpp", "vllm"])
def test_an_error_the_backend_reports_mid_stream_reaches_the_client_and_the_record(
    tmp_path: Path, then_done: bool
) -> None:
    ids: list[str] = []
    with (
        run_asgi(erroring_backend(then_done), lifespan="off") as url,
        live_gateway(tmp_path, single_slot_yaml(url)) as gateway,
        openai_client(gateway.url) as oa,
        ollama_client(gateway.url, ids) as ol,
    ):
        stream = oa.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIError) as caught:
            for _ in stream:
                pass
        assert type(caught.value) is openai.APIError
        assert caught.value.message == "context size exceeded" and caught.value.code == "500"
        with pytest.raises(ollama.ResponseError) as caught_ollama:
            for _ in ol.chat(model=MODEL, messages=MESSAGES, stream=True):
                pass
        assert caught_ollama.value.error == "context size exceeded"
        for request_id in (stream.response.headers[REQUEST_ID], ids[0]):
            rec = request_record(gateway, request_id)["request"]
            assert (rec["error"], rec["aborted"], rec["output_head"]) == ("upstream_error", True, "bill")


def garbage_stream_backend() -> Any:
    """A stream that carries an event that is not JSON, then ends properly."""
    return sse_backend(orjson.dumps(FIRST_CHUNK), b"{not json", b"[DONE]")


def test_a_stream_with_an_event_that_is_not_json_is_a_failed_answer_not_a_success(tmp_path: Path) -> None:
    ids: list[str] = []
    with (
        run_asgi(garbage_stream_backend(), lifespan="off") as url,
        live_gateway(tmp_path, single_slot_yaml(url)) as gateway,
        openai_client(gateway.url) as oa,
        ollama_client(gateway.url, ids) as ol,
    ):
        stream = oa.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        # The garbage is passed through as it came (the OpenAI client cannot parse it either).
        with pytest.raises(ValueError):
            for _ in stream:
                pass
        with pytest.raises(ollama.ResponseError) as caught:
            for _ in ol.chat(model=MODEL, messages=MESSAGES, stream=True):
                pass
        assert "not a JSON object" in caught.value.error
        for request_id in (stream.response.headers[REQUEST_ID], ids[0]):
            rec = request_record(gateway, request_id)["request"]
            assert (rec["error"], rec["aborted"]) == ("bad_upstream_stream", True)


def huge_usage_backend() -> Any:
    """An OpenAI-compatible server that reports more completion tokens than any database column holds."""
    body = (
        b'{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
        b'"message":{"role":"assistant","content":"billing"},"finish_reason":"stop"}],'
        b'"usage":{"prompt_tokens":1,"completion_tokens":18446744073709551615,"total_tokens":1}}'
    )

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def test_a_token_count_out_of_range_is_not_recorded_and_recording_goes_on(tmp_path: Path) -> None:
    with (
        run_asgi(huge_usage_backend(), lifespan="off") as url,
        live_gateway(tmp_path, single_slot_yaml(url)) as gateway,
        openai_client(gateway.url) as oa,
    ):
        ids = []
        for _ in range(3):
            raw = oa.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
            assert raw.parse().choices[0].message.content == "billing"
            ids.append(raw.headers[REQUEST_ID])
        for request_id in ids:
            rec = request_record(gateway, request_id)["request"]
            assert (rec["status"], rec["error"], rec["output_tokens"]) == (200, None, None)


def test_a_fault_inside_slipway_is_a_500_recorded_as_the_gateways_never_the_slots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug in slipway")

    with sim_backend(profile_yaml()) as sim_url, live_gateway(tmp_path, single_slot_yaml(sim_url)) as gateway:
        monkeypatch.setattr("slipway.gateway.upstream.upstream_body", broken)
        with openai_client(gateway.url) as oa, pytest.raises(openai.InternalServerError) as caught:
            oa.chat.completions.create(model=MODEL, messages=MESSAGES)
        assert caught.value.code == "gateway_error"
        request_id = caught.value.response.headers[REQUEST_ID]
        rec = request_record(gateway, request_id)["request"]
        assert (rec["slot"], rec["status"], rec["error"]) == ("blue", 500, "gateway_error")
        assert gateway.runtime.proxy._unrecorded == {}
        feedback = httpx.post(
            f"{gateway.url}/v1/feedback", json={"request_id": request_id, "satisfied": False}
        )
        assert feedback.status_code == 200
        slots = httpx.get(f"{gateway.url}/admin/status").json()["slots"]
        assert [(s["name"], s["requests_5m"], s["errors_5m"]) for s in slots] == [("blue", 1, 0)]
