"""Ollama client ⇄ OpenAI server: translation, framing and errors, checked by the clients' own parsers.

Every translated response and stream is fed to the `openai` and `ollama`
packages (their pydantic models, and the real clients over an in-process mock
transport), so a shape either client rejects fails here, not in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import httpx2
import ollama
import openai
import orjson
import pydantic
import pytest
from openai.types import completion_create_params as completion_params
from openai.types.chat import completion_create_params as chat_params

from slipway.core.errors import BackendError
from slipway.core.records import Api
from slipway.gateway import errors, framing, output, request_bodies, responses, streams

NOW = 1_700_000_000.25

# ---------------------------------------------------------------- fixtures: what real servers send


def _sse(*objs: Any, crlf: bool = False) -> bytes:
    end = b"\r\n" if crlf else b"\n"
    out = b""
    for obj in objs:
        payload = obj if isinstance(obj, bytes) else orjson.dumps(obj)
        out += b"data: " + payload + end + end
    return out


def _chat_chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "upstream.gguf",
        "system_fingerprint": "b4000",
        "choices": choices,
        **extra,
    }


def _text_chunk(text: str | None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if text is None else [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}]
    return {
        "id": "cmpl-up",
        "object": "text_completion",
        "created": 1,
        "model": "up",
        "choices": choices,
        **extra,
    }


USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
TIMINGS = {
    "prompt_n": 12,
    "prompt_ms": 5.5,
    "predicted_n": 3,
    "predicted_ms": 30.0,
    "predicted_per_second": 100.0,
}

# llama.cpp's /v1/chat/completions stream with stream_options.include_usage.
LLAMACPP_CHAT_STREAM = _sse(
    _chat_chunk({"role": "assistant", "content": None}),
    _chat_chunk({"content": "Bill"}),
    _chat_chunk({"content": "ing — é"}),
    _chat_chunk({}, "stop"),
    _chat_chunk(None, usage=USAGE, timings=TIMINGS),
    b"[DONE]",
)
LLAMACPP_TEXT_STREAM = _sse(
    _text_chunk("Bill"),
    _text_chunk("ing — é"),
    _text_chunk("", "length"),
    _text_chunk(None, usage=USAGE),
    b"[DONE]",
)


def _ollama_line(content: str, done: bool = False, chat: bool = True, **extra: Any) -> bytes:
    obj: dict[str, Any] = {"model": "m", "created_at": "2024-08-07T03:57:33.0365888Z"}
    if chat:
        obj["message"] = {"role": "assistant", "content": content}
    else:
        obj["response"] = content
    obj["done"] = done
    obj.update(extra)
    return orjson.dumps(obj) + b"\n"


OLLAMA_FINAL: dict[str, Any] = {
    "done_reason": "stop",
    "total_duration": 4353619900,
    "load_duration": 63915300,
    "prompt_eval_count": 10,
    "prompt_eval_duration": 246847000,
    "eval_count": 17,
    "eval_duration": 4032296000,
}
OLLAMA_CHAT_STREAM = (
    _ollama_line("Bill") + _ollama_line("ing — é") + _ollama_line("", done=True, **OLLAMA_FINAL)
)
OLLAMA_GENERATE_STREAM = (
    _ollama_line("Bill", chat=False)
    + _ollama_line("ing — é", chat=False)
    + _ollama_line("", done=True, chat=False, context=[1, 2], **OLLAMA_FINAL)
)


# ---------------------------------------------------------------- helpers: the real clients


def _materialize(value: Any) -> Any:
    """pydantic validates TypedDict iterables lazily; walk them so every item is checked."""
    if isinstance(value, dict):
        return {k: _materialize(v) for k, v in value.items()}
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return value
    return [_materialize(v) for v in value]


def _valid_openai_request(adapter_type: Any, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = _materialize(pydantic.TypeAdapter(adapter_type).validate_python(body))
    return result


def _ollama_client(body: bytes, status: int = 200, seen: list[dict[str, Any]] | None = None) -> ollama.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(orjson.loads(request.content))
        return httpx.Response(status, content=body, headers={"content-type": "application/x-ndjson"})

    return ollama.Client(host="http://slipway.test", transport=httpx.MockTransport(handler))


def _openai_client(
    body: bytes, status: int = 200, seen: list[dict[str, Any]] | None = None, sse: bool = False
) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if seen is not None:
            seen.append(orjson.loads(request.content))
        kind = "text/event-stream" if sse else "application/json"
        return httpx2.Response(status, content=body, headers={"content-type": kind})

    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="k", base_url="http://slipway.test/v1", http_client=http, max_retries=0)


def _splits(data: bytes) -> Iterator[list[bytes]]:
    """Every two-piece split, byte-at-a-time, and the whole thing."""
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]


def _pipe_openai(pieces: list[bytes], tr: streams.OpenAIToOllamaStream) -> bytes:
    decoder = framing.SSEDecoder()
    out: list[bytes] = []
    done = False
    for piece in pieces:
        for payload in decoder.feed(piece):
            if payload == b"[DONE]":
                done = True
                continue
            out += tr.feed(orjson.loads(payload))
    assert decoder.finish() == []
    assert done
    out += tr.finish()
    return b"".join(out)


def _ticks(start: int = 1_000, step: int = 1_000_000) -> Callable[[], int]:
    state = {"now": start}

    def clock() -> int:
        state["now"] += step
        return state["now"]

    return clock


# ---------------------------------------------------------------- requests: Ollama client → OpenAI server


@pytest.mark.parametrize(
    ("body", "expected", "note"),
    [
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            {"stream": True, "stream_options": {"include_usage": True}},
            None,
            id="ollama-streams-by-default",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False},
            {"stream": False},
            None,
            id="stream-false-kept",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
                "options": {"temperature": 0, "top_p": 0.9, "seed": 7, "stop": ["\n"], "num_predict": 16},
            },
            {"temperature": 0, "top_p": 0.9, "seed": 7, "stop": ["\n"], "max_tokens": 16},
            None,
            id="options",
        ),
        pytest.param(
            {"model": "m", "messages": [], "stream": False, "options": {"num_predict": -1, "num_ctx": 8192}},
            {"messages": []},
            "num_ctx",
            id="unbounded-num-predict-and-load-time-option",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": False, "format": "json"},
            {"response_format": {"type": "json_object"}},
            None,
            id="format-json",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "stream": False,
                "format": {"type": "object", "properties": {"label": {"type": "string"}}},
            },
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "response",
                        "schema": {"type": "object", "properties": {"label": {"type": "string"}}},
                    },
                }
            },
            None,
            id="format-schema",
        ),
        pytest.param(
            {
                "model": "m",
                "stream": False,
                "messages": [{"role": "user", "content": "x", "images": ["aGk="]}],
            },
            {"messages": [{"role": "user", "content": "x"}]},
            "image",
            id="images-dropped-with-a-note",
        ),
        pytest.param(
            {
                "model": "m",
                "stream": False,
                "keep_alive": "5m",
                "messages": [{"role": "user", "content": "x"}],
            },
            {"model": "m"},
            "keep_alive",
            id="keep-alive-noted",
        ),
    ],
)
def test_ollama_chat_to_openai(body: dict[str, Any], expected: dict[str, Any], note: str | None) -> None:
    notes: list[str] = []
    out = request_bodies.ollama_chat_to_openai(body, notes=notes)
    for key, value in expected.items():
        assert out[key] == value, key
    assert out["stream"] == body.get("stream", True)
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes), notes
    if out["messages"]:
        params = (
            chat_params.CompletionCreateParamsStreaming
            if out["stream"]
            else (chat_params.CompletionCreateParamsNonStreaming)
        )
        _valid_openai_request(params, out)


def test_ollama_chat_tool_history_becomes_openai_tool_calls() -> None:
    body = {
        "model": "m",
        "stream": False,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "messages": [
            {"role": "user", "content": "order 7?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "lookup", "arguments": {"order": 7}}}],
            },
            {"role": "tool", "tool_name": "lookup", "content": "shipped"},
        ],
    }
    out = request_bodies.ollama_chat_to_openai(body)
    call = out["messages"][1]["tool_calls"][0]
    assert call["type"] == "function"
    assert orjson.loads(call["function"]["arguments"]) == {"order": 7}
    assert out["messages"][2]["tool_call_id"] == call["id"]
    assert out["tools"] == body["tools"]
    _valid_openai_request(chat_params.CompletionCreateParamsNonStreaming, out)


@pytest.mark.parametrize(
    ("body", "prompt", "note"),
    [
        pytest.param({"model": "m", "prompt": "hi"}, "hi", None, id="plain"),
        pytest.param(
            {"model": "m", "prompt": "hi", "system": "be brief"}, "be brief\n\nhi", None, id="system"
        ),
        pytest.param(
            {"model": "m", "prompt": "[INST]hi", "system": "x", "raw": True}, "[INST]hi", "raw", id="raw"
        ),
        pytest.param(
            {"model": "m", "prompt": "", "system": "", "template": ""}, "", None, id="empty-strings"
        ),
        pytest.param({"model": "m", "prompt": "hi", "context": [1, 2]}, "hi", "context", id="context"),
    ],
)
def test_ollama_generate_to_openai(body: dict[str, Any], prompt: str, note: str | None) -> None:
    notes: list[str] = []
    out = request_bodies.ollama_generate_to_openai(body, notes=notes)
    assert out["prompt"] == prompt
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}
    assert (note is None) == (notes == [])
    if note:
        assert any(note in n for n in notes)
    _valid_openai_request(completion_params.CompletionCreateParamsStreaming, out)


def test_requests_from_the_real_ollama_client_translate_to_valid_openai_requests() -> None:
    seen: list[dict[str, Any]] = []
    done = _ollama_line("ok", done=True, **OLLAMA_FINAL)
    client = _ollama_client(done, seen=seen)
    client.chat(
        model="support:v2",
        messages=[{"role": "system", "content": "classify"}, {"role": "user", "content": "refund?"}],
        options={"temperature": 0, "num_predict": 8, "stop": ["\n"], "seed": 3, "top_k": 1},
        format="json",
        stream=False,
    )
    out = request_bodies.ollama_chat_to_openai(seen[0])
    checked = _valid_openai_request(chat_params.CompletionCreateParamsNonStreaming, out)
    assert checked["max_tokens"] == 8 and checked["stop"] == ["\n"] and checked["seed"] == 3
    assert out["top_k"] == 1
    assert checked["response_format"] == {"type": "json_object"}

    generate_done = _ollama_line("ok", done=True, chat=False, **OLLAMA_FINAL)
    client = _ollama_client(generate_done, seen=seen)
    client.generate(model="support:v2", prompt="refund?", system="classify", options={"num_predict": 4})
    out = request_bodies.ollama_generate_to_openai(seen[1])
    checked = _valid_openai_request(completion_params.CompletionCreateParamsNonStreaming, out)
    assert checked["prompt"] == "classify\n\nrefund?"
    assert checked["max_tokens"] == 4
    assert "suffix" not in out


@pytest.mark.parametrize(
    ("api", "body", "expected"),
    [
        (Api.OLLAMA_CHAT, {}, True),
        (Api.OLLAMA_GENERATE, {"stream": False}, False),
        (Api.OPENAI_CHAT, {}, False),
        ("openai.completions", {"stream": True}, True),
    ],
)
def test_client_wants_stream(api: Api | str, body: dict[str, Any], expected: bool) -> None:
    assert request_bodies.client_wants_stream(api, body) is expected


# ---------------------------------------------------------------- non-stream responses


LLAMACPP_CHAT_RESPONSE = {
    "id": "chatcmpl-up",
    "object": "chat.completion",
    "created": 1,
    "model": "up.gguf",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "billing"}, "finish_reason": "stop"}
    ],
    "usage": USAGE,
    "timings": TIMINGS,
}
LLAMACPP_TEXT_RESPONSE = {
    "id": "cmpl-up",
    "object": "text_completion",
    "created": 1,
    "model": "up.gguf",
    "choices": [{"index": 0, "text": "billing", "logprobs": None, "finish_reason": "length"}],
    "usage": USAGE,
}


@pytest.mark.parametrize("upstream", [LLAMACPP_CHAT_RESPONSE, LLAMACPP_TEXT_RESPONSE], ids=["chat", "text"])
def test_openai_response_to_ollama_chat(upstream: dict[str, Any]) -> None:
    out = responses.openai_chat_response_to_ollama(upstream, "support", total_duration_ns=42_000_000, now=NOW)
    parsed = ollama.ChatResponse.model_validate(out)
    assert parsed.message.content == "billing"
    assert parsed.message.role == "assistant"
    assert parsed.done is True
    assert parsed.done_reason == upstream["choices"][0]["finish_reason"]
    assert parsed.eval_count == 3 and parsed.prompt_eval_count == 12
    assert parsed.total_duration == 42_000_000
    assert parsed.model == "support"
    assert out["created_at"] == "2023-11-14T22:13:20.250000Z"
    # and through the real client
    assert _ollama_client(orjson.dumps(out)).chat(model="support", messages=[]).message.content == "billing"


@pytest.mark.parametrize("upstream", [LLAMACPP_TEXT_RESPONSE, LLAMACPP_CHAT_RESPONSE], ids=["text", "chat"])
def test_openai_response_to_ollama_generate(upstream: dict[str, Any]) -> None:
    out = responses.openai_completion_response_to_ollama(upstream, "support", now=NOW)
    parsed = ollama.GenerateResponse.model_validate(out)
    assert parsed.response == "billing"
    assert parsed.done is True and parsed.eval_count == 3
    assert "total_duration" not in out
    assert _ollama_client(orjson.dumps(out)).generate(model="support", prompt="x").response == "billing"


def test_llamacpp_timings_become_ollama_durations() -> None:
    out = responses.openai_chat_response_to_ollama(LLAMACPP_CHAT_RESPONSE, "m", now=NOW)
    assert out["prompt_eval_duration"] == 5_500_000
    assert out["eval_duration"] == 30_000_000


def test_openai_tool_call_response_to_ollama() -> None:
    upstream = {
        **LLAMACPP_CHAT_RESPONSE,
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": '{"order": 7}'},
                        }
                    ],
                },
            }
        ],
    }
    parsed = ollama.ChatResponse.model_validate(
        responses.openai_chat_response_to_ollama(upstream, "m", now=NOW)
    )
    assert parsed.message.tool_calls is not None
    assert parsed.message.tool_calls[0].function.arguments == {"order": 7}
    assert parsed.done_reason == "stop"


OLLAMA_CHAT_RESPONSE = orjson.loads(_ollama_line("billing", done=True, **OLLAMA_FINAL))
OLLAMA_GENERATE_RESPONSE = orjson.loads(_ollama_line("billing", done=True, chat=False, **OLLAMA_FINAL))


# ---------------------------------------------------------------- streams: OpenAI server → Ollama client


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_openai_chat_stream_to_ollama_chat_at_every_chunk_boundary(crlf: bool) -> None:
    upstream = LLAMACPP_CHAT_STREAM.replace(b"\n", b"\r\n") if crlf else LLAMACPP_CHAT_STREAM
    expected: bytes | None = None
    for pieces in _splits(upstream):
        tr = streams.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "support", ticks_ns=_ticks(), wall=lambda: NOW)
        out = _pipe_openai(pieces, tr)
        if expected is None:
            expected = out
        assert out == expected
    assert expected is not None
    lines = [orjson.loads(line) for line in expected.splitlines()]
    parsed = [ollama.ChatResponse(**line) for line in lines]
    assert "".join(p.message.content or "" for p in parsed) == "Billing — é"
    assert [p.done for p in parsed] == [False, False, True]
    final = parsed[-1]
    assert final.done_reason == "stop"
    assert (final.prompt_eval_count, final.eval_count) == (12, 3)
    assert final.eval_duration == 30_000_000 and final.prompt_eval_duration == 5_500_000
    assert final.total_duration is not None and final.total_duration > 0
    # and through the real client, streaming
    chunks = list(_ollama_client(expected).chat(model="support", messages=[], stream=True))
    assert "".join(c.message.content or "" for c in chunks) == "Billing — é"
    assert chunks[-1].done is True


@pytest.mark.parametrize("upstream", [LLAMACPP_TEXT_STREAM, LLAMACPP_CHAT_STREAM], ids=["text", "chat"])
def test_openai_stream_to_ollama_generate(upstream: bytes) -> None:
    tr = streams.OpenAIToOllamaStream("ollama.generate", "support", ticks_ns=_ticks(), wall=lambda: NOW)
    out = _pipe_openai([upstream], tr)
    chunks = list(_ollama_client(out).generate(model="support", prompt="x", stream=True))
    assert "".join(c.response or "" for c in chunks) == "Billing — é"
    assert chunks[-1].done is True and chunks[-1].eval_count == 3
    for line in out.splitlines():
        ollama.GenerateResponse.model_validate_json(line)


def test_openai_stream_without_usage_measures_durations() -> None:
    upstream = _sse(
        _chat_chunk({"role": "assistant"}), _chat_chunk({"content": "hi"}), _chat_chunk({}, "length")
    )
    tr = streams.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m", ticks_ns=_ticks(step=1_000), wall=lambda: NOW)
    out = _pipe_openai([upstream + b"data: [DONE]\n\n"], tr)
    final = orjson.loads(out.splitlines()[-1])
    assert final["done_reason"] == "length"
    assert "eval_count" not in final
    assert final["total_duration"] == final["prompt_eval_duration"] + final["eval_duration"]


def test_openai_stream_tool_call_fragments_are_assembled() -> None:
    def call(**fn: str) -> dict[str, Any]:
        return {"tool_calls": [{"index": 0, "function": fn}]}

    upstream = _sse(
        _chat_chunk({"role": "assistant", "content": None}),
        _chat_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": ""},
                    }
                ]
            }
        ),
        _chat_chunk(call(arguments='{"ord')),
        _chat_chunk(call(arguments='er": 7}')),
        _chat_chunk({}, "tool_calls"),
        b"[DONE]",
    )
    out = _pipe_openai([upstream], streams.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m"))
    chunks = list(_ollama_client(out).chat(model="m", messages=[], stream=True))
    calls = [c for chunk in chunks for c in chunk.message.tool_calls or []]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("lookup", {"order": 7})]
    assert chunks[-1].done_reason == "stop"


def test_openai_stream_error_event_becomes_ollama_error_line() -> None:
    upstream = _sse(
        _chat_chunk({"content": "Bi"}), {"error": {"message": "slot crashed", "type": "server_error"}}
    )
    tr = streams.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m")
    decoder = framing.SSEDecoder()
    out = b"".join(line for p in decoder.feed(upstream) for line in tr.feed(orjson.loads(p)))
    assert tr.finish() == [] and tr.fail("again") == []
    assert out.splitlines()[-1] == b'{"error":"slot crashed"}'
    with pytest.raises(ollama.ResponseError, match="slot crashed"):
        list(_ollama_client(out).chat(model="m", messages=[], stream=True))


def test_openai_to_ollama_fail_ends_the_stream_once() -> None:
    tr = streams.OpenAIToOllamaStream(Api.OLLAMA_GENERATE, "m")
    assert tr.fail("backend died") == [b'{"error":"backend died"}\n']
    assert tr.feed(_text_chunk("late")) == [] and tr.finish() == []


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (502, openai.InternalServerError),
    ],
)
def test_openai_error_body_is_what_the_openai_client_reads(status: int, error: type[Exception]) -> None:
    body = errors.openai_error_body("slot 'green' is not ready", "server_error", "slot_unavailable")
    client = _openai_client(body, status=status)
    with pytest.raises(error, match="slot 'green' is not ready") as info:
        client.chat.completions.create(model="m", messages=[])
    assert getattr(info.value, "code", None) == "slot_unavailable"


def test_ollama_error_body_is_what_the_ollama_client_reads() -> None:
    with pytest.raises(ollama.ResponseError) as info:
        _ollama_client(errors.ollama_error_body("no slot"), status=503).chat(model="m", messages=[])
    assert info.value.error == "no slot" and info.value.status_code == 503


def test_stream_errors_are_single_terminating_events() -> None:
    assert errors.openai_stream_error("boom", "stream_interrupted") == (
        b'data: {"error":{"message":"boom","type":"server_error","param":null,'
        b'"code":"stream_interrupted"}}\n\n'
    )
    assert errors.ollama_stream_error('say "no"') == b'{"error":"say \\"no\\""}\n'


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":"model not found"}', "model not found"),
        (b'{"error":{"message":"context too long","type":"invalid_request_error"}}', "context too long"),
        (b'{"object":"error","message":"bad","type":"BadRequestError"}', "bad"),
        (b'{"detail":"Not Found"}', "Not Found"),
        (b"<html>502 Bad Gateway</html>", "<html>502 Bad Gateway</html>"),
        (b'["odd"]', "['odd']"),
    ],
)
def test_upstream_error_message(body: bytes, message: str) -> None:
    assert errors.upstream_error_message(body) == message


# ---------------------------------------------------------------- decoders


@pytest.mark.parametrize(
    ("stream", "payloads"),
    [
        (b"data: a\n\ndata: b\n\n", [b"a", b"b"]),
        (b"data: a\r\n\r\ndata: b\r\n\r\n", [b"a", b"b"]),
        (b"data: a\r\rdata: b\r\r", [b"a", b"b"]),
        (b"data:no-space\n\n", [b"no-space"]),
        (b"data:  two spaces\n\n", [b" two spaces"]),
        (b"data: one\ndata: two\n\n", [b"one\ntwo"]),
        (b": keep-alive\n\nevent: message\nid: 3\nretry: 10\ndata: x\n\n", [b"x"]),
        (b"event: ping\n\n", []),
        (b"data\n\n", [b""]),
        (b"data: [DONE]\n\n", [b"[DONE]"]),
        (b"data: tail-without-blank-line", [b"tail-without-blank-line"]),
        (b"data: a\n", [b"a"]),
    ],
)
def test_sse_decoder(stream: bytes, payloads: list[bytes]) -> None:
    for pieces in _splits(stream):
        decoder = framing.SSEDecoder()
        got = [p for piece in pieces for p in decoder.feed(piece)] + decoder.finish()
        assert got == payloads, pieces


def test_sse_decoder_cr_then_lf_in_the_next_chunk_is_one_line_end() -> None:
    decoder = framing.SSEDecoder()
    assert decoder.feed(b"data: a\r") == []
    assert decoder.feed(b"\n\r") == [b"a"]
    assert decoder.feed(b"\ndata: b\r\n\r\n") == [b"b"]
    assert decoder.feed(b"") == []


@pytest.mark.parametrize(
    ("stream", "lines"),
    [
        (b'{"a":1}\n{"b":2}\n', [b'{"a":1}', b'{"b":2}']),
        (b'{"a":1}\r\n\r\n{"b":2}', [b'{"a":1}', b'{"b":2}']),
        (b"\n\n  \n", []),
    ],
)
def test_ndjson_decoder(stream: bytes, lines: list[bytes]) -> None:
    for pieces in _splits(stream):
        decoder = framing.NDJSONDecoder()
        assert [line for piece in pieces for line in decoder.feed(piece)] + decoder.finish() == lines


@pytest.mark.parametrize("decoder", [framing.SSEDecoder(max_buffer=16), framing.NDJSONDecoder(max_buffer=16)])
def test_decoders_refuse_unbounded_lines(decoder: framing.SSEDecoder | framing.NDJSONDecoder) -> None:
    assert decoder.feed(b"data: 1234\n\ndata: 5678") == (
        [b"1234"] if isinstance(decoder, framing.SSEDecoder) else [b"data: 1234"]
    )
    with pytest.raises(BackendError, match="longer than 16 bytes"):
        decoder.feed(b"9abcdefgh")


# ---------------------------------------------------------------- reading output


@pytest.mark.parametrize(
    ("api", "obj", "text"),
    [
        (Api.OPENAI_CHAT, LLAMACPP_CHAT_RESPONSE, "billing"),
        (Api.OPENAI_CHAT, _chat_chunk({"content": "bil"}), "bil"),
        (Api.OPENAI_CHAT, _chat_chunk({"role": "assistant", "content": None}), ""),
        (Api.OPENAI_CHAT, _chat_chunk(None, usage=USAGE), ""),
        (Api.OPENAI_COMPLETIONS, LLAMACPP_TEXT_RESPONSE, "billing"),
        ("openai.completions", _text_chunk("bil"), "bil"),
        (Api.OPENAI_COMPLETIONS, LLAMACPP_CHAT_RESPONSE, "billing"),
        (Api.OLLAMA_CHAT, OLLAMA_CHAT_RESPONSE, "billing"),
        (Api.OLLAMA_CHAT, {"done": True}, ""),
        (Api.OLLAMA_GENERATE, OLLAMA_GENERATE_RESPONSE, "billing"),
        ("ollama.generate", OLLAMA_CHAT_RESPONSE, "billing"),
        (Api.OLLAMA_CHAT, {"error": "boom"}, ""),
        (Api.OPENAI_CHAT, {"error": {"message": "boom"}}, ""),
        (Api.OPENAI_CHAT, ["not", "an", "object"], ""),
        (Api.OPENAI_CHAT, {"choices": [{"index": 0, "message": {"content": 5}}]}, ""),
    ],
)
def test_extract_output(api: Api | str, obj: Any, text: str) -> None:
    assert output.extract_output(api, obj) == text


@pytest.mark.parametrize(
    ("obj", "tokens"),
    [
        (LLAMACPP_CHAT_RESPONSE, 3),
        # llama.cpp's `timings` alone is not taken as a count: every server slipway fronts reports
        # usage (or eval_count) when asked, and the gateway asks.
        (_chat_chunk(None, timings=TIMINGS), None),
        (_chat_chunk({"content": "x"}), None),
        (OLLAMA_CHAT_RESPONSE, 17),
        ({"response": "x", "done": False}, None),
        ({"eval_count": True}, None),
        ({"eval_count": -1}, None),
        ({"usage": {"completion_tokens": 2**40}}, None),
    ],
)
def test_completion_tokens(obj: dict[str, Any], tokens: int | None) -> None:
    assert output.completion_tokens(obj) == tokens


@pytest.mark.parametrize("ts", [0.0, 1.5, NOW, 1_700_000_000.999999, 4_102_444_799.000001])
def test_rfc3339_matches_datetime(ts: float) -> None:
    parsed = datetime.strptime(responses.rfc3339(ts), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(parsed.timestamp() - ts) < 2e-6
    assert responses.rfc3339(ts) == responses.rfc3339(ts)  # the cached second gives the same answer
