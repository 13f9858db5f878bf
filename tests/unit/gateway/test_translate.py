"""OpenAI ⇄ Ollama translation, checked by the official clients' own parsers.

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
from ollama._types import ChatRequest as OllamaChatRequest
from ollama._types import GenerateRequest as OllamaGenerateRequest
from openai._streaming import SSEDecoder as OpenAISSEDecoder
from openai.types import Completion
from openai.types import completion_create_params as completion_params
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.chat import completion_create_params as chat_params

from slipway.core.errors import BackendError, ValidationError
from slipway.core.records import Api
from slipway.gateway import translate as t

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


def _pipe_openai(pieces: list[bytes], tr: t.OpenAIToOllamaStream) -> bytes:
    decoder = t.SSEDecoder()
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


def _pipe_ollama(pieces: list[bytes], tr: t.OllamaToOpenAIStream) -> bytes:
    decoder = t.NDJSONDecoder()
    out: list[bytes] = []
    for piece in pieces:
        for line in decoder.feed(piece):
            out += tr.feed(orjson.loads(line))
    assert decoder.finish() == []
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
    out = t.ollama_chat_to_openai(body, notes=notes)
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
    out = t.ollama_chat_to_openai(body)
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
    out = t.ollama_generate_to_openai(body, notes=notes)
    assert out["prompt"] == prompt
    assert out["stream"] is True
    assert out["stream_options"] == {"include_usage": True}
    assert (note is None) == (notes == [])
    if note:
        assert any(note in n for n in notes)
    _valid_openai_request(completion_params.CompletionCreateParamsStreaming, out)


def test_ollama_generate_to_openai_chat_keeps_the_template() -> None:
    out = t.ollama_generate_to_openai_chat(
        {"model": "m", "prompt": "hi", "system": "be brief", "stream": False, "options": {"temperature": 0}}
    )
    assert out["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    assert out["temperature"] == 0
    _valid_openai_request(chat_params.CompletionCreateParamsNonStreaming, out)


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
    out = t.ollama_chat_to_openai(seen[0])
    checked = _valid_openai_request(chat_params.CompletionCreateParamsNonStreaming, out)
    assert checked["max_tokens"] == 8 and checked["stop"] == ["\n"] and checked["seed"] == 3
    assert out["top_k"] == 1
    assert checked["response_format"] == {"type": "json_object"}

    generate_done = _ollama_line("ok", done=True, chat=False, **OLLAMA_FINAL)
    client = _ollama_client(generate_done, seen=seen)
    client.generate(model="support:v2", prompt="refund?", system="classify", options={"num_predict": 4})
    out = t.ollama_generate_to_openai(seen[1])
    checked = _valid_openai_request(completion_params.CompletionCreateParamsNonStreaming, out)
    assert checked["prompt"] == "classify\n\nrefund?"
    assert checked["max_tokens"] == 4
    assert "suffix" not in out


# ---------------------------------------------------------------- requests: OpenAI client → Ollama server


@pytest.mark.parametrize(
    ("body", "expected", "note"),
    [
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "hi"}]},
            {"stream": False},
            None,
            id="openai-does-not-stream-by-default",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [{"role": "developer", "content": "rules"}, {"role": "user", "content": "hi"}],
                "stream": True,
                "max_tokens": 5,
                "stop": "\n",
                "temperature": 0.2,
                "seed": 1,
                "stream_options": {"include_usage": True},
            },
            {
                "stream": True,
                "options": {"temperature": 0.2, "seed": 1, "num_predict": 5, "stop": ["\n"]},
                "messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "hi"}],
            },
            None,
            id="options-and-developer-role",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 9},
            {"options": {"num_predict": 9}},
            None,
            id="max-completion-tokens",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_object"},
            },
            {"format": "json"},
            None,
            id="json-object",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": {"type": "object"}},
                },
            },
            {"format": {"type": "object"}},
            None,
            id="json-schema",
        ),
        pytest.param(
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is"},
                            {"type": "text", "text": "this?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},
                            {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
                        ],
                    }
                ],
            },
            {"messages": [{"role": "user", "content": "what is\nthis?", "images": ["aGk="]}]},
            "image URL",
            id="content-parts",
        ),
        pytest.param(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 3, "tool_choice": "auto"},
            {"stream": False},
            "n > 1",
            id="unsupported-noted",
        ),
    ],
)
def test_openai_chat_to_ollama(body: dict[str, Any], expected: dict[str, Any], note: str | None) -> None:
    notes: list[str] = []
    out = t.openai_chat_to_ollama(body, notes=notes)
    for key, value in expected.items():
        assert out[key] == value, key
    assert "stream_options" not in out
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes), notes
    OllamaChatRequest.model_validate(out)


def test_openai_tool_history_becomes_ollama_tool_calls() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "order 7?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "lookup", "arguments": '{"order": 7}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_a", "content": "shipped"},
        ],
    }
    out = t.openai_chat_to_ollama(body)
    assert out["messages"][1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"function": {"name": "lookup", "arguments": {"order": 7}}}],
    }
    assert out["messages"][2]["tool_name"] == "lookup"
    OllamaChatRequest.model_validate(out)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": "m"}, "messages"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"content": "no role"}]}, "messages[0]"),
        ({"model": "m", "messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ],
)
def test_openai_chat_to_ollama_rejects_bad_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        t.openai_chat_to_ollama(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"model": "m", "prompt": "once upon"}, {"prompt": "once upon", "raw": True, "stream": False}),
        ({"model": "m", "prompt": ["once upon"], "stream": True}, {"prompt": "once upon", "stream": True}),
        (
            {"model": "m", "prompt": "x", "max_tokens": 3, "suffix": "end"},
            {"options": {"num_predict": 3}, "suffix": "end"},
        ),
    ],
)
def test_openai_completions_to_ollama(body: dict[str, Any], expected: dict[str, Any]) -> None:
    out = t.openai_completions_to_ollama(body)
    for key, value in expected.items():
        assert out[key] == value
    OllamaGenerateRequest.model_validate(out)


@pytest.mark.parametrize("prompt", [["a", "b"], [1, 2, 3], None])
def test_openai_completions_to_ollama_rejects_batches_and_tokens(prompt: Any) -> None:
    with pytest.raises(ValidationError, match="one string"):
        t.openai_completions_to_ollama({"model": "m", "prompt": prompt})


def test_requests_from_the_real_openai_client_translate_to_valid_ollama_requests() -> None:
    seen: list[dict[str, Any]] = []
    reply = t.ollama_chat_response_to_openai(
        orjson.loads(_ollama_line("ok", True, **OLLAMA_FINAL)), "m", "r1"
    )
    client = _openai_client(orjson.dumps(reply), seen=seen)
    client.chat.completions.create(
        model="support",
        messages=[{"role": "system", "content": "classify"}, {"role": "user", "content": "refund?"}],
        temperature=0,
        max_tokens=8,
        stop=["\n"],
        response_format={"type": "json_object"},
    )
    out = t.openai_chat_to_ollama(seen[0])
    request = OllamaChatRequest.model_validate(out)
    assert request.format == "json"
    assert request.options == {"temperature": 0, "num_predict": 8, "stop": ["\n"]}
    assert request.stream is False


@pytest.mark.parametrize(
    "body",
    [
        {
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "options": {"temperature": 0, "seed": 4},
        },
        {
            "model": "m",
            "stream": False,
            "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
            "options": {"stop": ["x"], "num_predict": 2, "top_p": 0.5},
        },
    ],
)
def test_ollama_chat_round_trip(body: dict[str, Any]) -> None:
    back = t.openai_chat_to_ollama(t.ollama_chat_to_openai(body))
    assert back["messages"] == body["messages"]
    assert back["options"] == body["options"]
    assert back["stream"] == body.get("stream", True)


def test_openai_chat_round_trip() -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
        "max_tokens": 7,
        "stop": ["\n"],
        "stream": True,
    }
    back = t.ollama_chat_to_openai(t.openai_chat_to_ollama(body))
    for key in ("messages", "temperature", "max_tokens", "stop", "stream"):
        assert back[key] == body[key]


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
    assert t.client_wants_stream(api, body) is expected


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
    out = t.openai_chat_response_to_ollama(upstream, "support", total_duration_ns=42_000_000, now=NOW)
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
    out = t.openai_completion_response_to_ollama(upstream, "support", now=NOW)
    parsed = ollama.GenerateResponse.model_validate(out)
    assert parsed.response == "billing"
    assert parsed.done is True and parsed.eval_count == 3
    assert "total_duration" not in out
    assert _ollama_client(orjson.dumps(out)).generate(model="support", prompt="x").response == "billing"


def test_llamacpp_timings_become_ollama_durations() -> None:
    out = t.openai_chat_response_to_ollama(LLAMACPP_CHAT_RESPONSE, "m", now=NOW)
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
    parsed = ollama.ChatResponse.model_validate(t.openai_chat_response_to_ollama(upstream, "m", now=NOW))
    assert parsed.message.tool_calls is not None
    assert parsed.message.tool_calls[0].function.arguments == {"order": 7}
    assert parsed.done_reason == "stop"


OLLAMA_CHAT_RESPONSE = orjson.loads(_ollama_line("billing", done=True, **OLLAMA_FINAL))
OLLAMA_GENERATE_RESPONSE = orjson.loads(_ollama_line("billing", done=True, chat=False, **OLLAMA_FINAL))


@pytest.mark.parametrize(
    "upstream", [OLLAMA_CHAT_RESPONSE, OLLAMA_GENERATE_RESPONSE], ids=["chat", "generate"]
)
def test_ollama_response_to_openai_chat(upstream: dict[str, Any]) -> None:
    out = t.ollama_chat_response_to_openai(upstream, "support", "req-1", now=NOW)
    parsed = ChatCompletion.model_validate(out)
    assert parsed.id == "chatcmpl-req-1" and parsed.created == int(NOW)
    assert parsed.choices[0].message.content == "billing"
    assert parsed.choices[0].finish_reason == "stop"
    assert parsed.usage is not None and parsed.usage.total_tokens == 27
    reply = _openai_client(orjson.dumps(out)).chat.completions.create(model="support", messages=[])
    assert reply.choices[0].message.content == "billing"


@pytest.mark.parametrize(
    "upstream", [OLLAMA_GENERATE_RESPONSE, OLLAMA_CHAT_RESPONSE], ids=["generate", "chat"]
)
def test_ollama_response_to_openai_completion(upstream: dict[str, Any]) -> None:
    out = t.ollama_generate_response_to_openai(upstream, "support", "req-1", now=NOW)
    parsed = Completion.model_validate(out)
    assert parsed.id == "cmpl-req-1"
    assert parsed.choices[0].text == "billing"
    reply = _openai_client(orjson.dumps(out)).completions.create(model="support", prompt="x")
    assert reply.choices[0].text == "billing"


@pytest.mark.parametrize(
    ("done_reason", "finish_reason"),
    [("stop", "stop"), ("length", "length"), ("load", "stop"), ("unload", "stop"), (None, "stop")],
)
def test_done_reason_maps_to_a_finish_reason_openai_accepts(
    done_reason: str | None, finish_reason: str
) -> None:
    upstream = {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": done_reason,
    }
    chat = ChatCompletion.model_validate(t.ollama_chat_response_to_openai(upstream, "m", "r"))
    text = Completion.model_validate(t.ollama_generate_response_to_openai(upstream, "m", "r"))
    assert chat.choices[0].finish_reason == finish_reason == text.choices[0].finish_reason
    assert chat.usage is None


def test_ollama_tool_call_response_to_openai() -> None:
    upstream = {
        "model": "m",
        "done": True,
        "done_reason": "stop",
        "message": {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "lookup", "arguments": {"order": 7}}}],
        },
    }
    parsed = ChatCompletion.model_validate(t.ollama_chat_response_to_openai(upstream, "m", "r"))
    assert parsed.choices[0].finish_reason == "tool_calls"
    calls = parsed.choices[0].message.tool_calls
    assert calls is not None and calls[0].type == "function"
    assert orjson.loads(calls[0].function.arguments) == {"order": 7}


# ---------------------------------------------------------------- streams: OpenAI server → Ollama client


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_openai_chat_stream_to_ollama_chat_at_every_chunk_boundary(crlf: bool) -> None:
    upstream = LLAMACPP_CHAT_STREAM.replace(b"\n", b"\r\n") if crlf else LLAMACPP_CHAT_STREAM
    expected: bytes | None = None
    for pieces in _splits(upstream):
        tr = t.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "support", clock=_ticks(), wall=lambda: NOW)
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
    tr = t.OpenAIToOllamaStream("ollama.generate", "support", clock=_ticks(), wall=lambda: NOW)
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
    tr = t.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m", clock=_ticks(step=1_000), wall=lambda: NOW)
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
    out = _pipe_openai([upstream], t.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m"))
    chunks = list(_ollama_client(out).chat(model="m", messages=[], stream=True))
    calls = [c for chunk in chunks for c in chunk.message.tool_calls or []]
    assert [(c.function.name, c.function.arguments) for c in calls] == [("lookup", {"order": 7})]
    assert chunks[-1].done_reason == "stop"


def test_openai_stream_error_event_becomes_ollama_error_line() -> None:
    upstream = _sse(
        _chat_chunk({"content": "Bi"}), {"error": {"message": "slot crashed", "type": "server_error"}}
    )
    tr = t.OpenAIToOllamaStream(Api.OLLAMA_CHAT, "m")
    decoder = t.SSEDecoder()
    out = b"".join(line for p in decoder.feed(upstream) for line in tr.feed(orjson.loads(p)))
    assert tr.finish() == [] and tr.fail("again") == []
    assert out.splitlines()[-1] == b'{"error":"slot crashed"}'
    with pytest.raises(ollama.ResponseError, match="slot crashed"):
        list(_ollama_client(out).chat(model="m", messages=[], stream=True))


def test_openai_to_ollama_fail_ends_the_stream_once() -> None:
    tr = t.OpenAIToOllamaStream(Api.OLLAMA_GENERATE, "m")
    assert tr.fail("backend died") == [b'{"error":"backend died"}\n']
    assert tr.feed(_text_chunk("late")) == [] and tr.finish() == []


# ---------------------------------------------------------------- streams: Ollama server → OpenAI client


def _openai_events(data: bytes) -> list[str]:
    return [sse.data for sse in OpenAISSEDecoder().iter_bytes(iter([data]))]


@pytest.mark.parametrize("upstream", [OLLAMA_CHAT_STREAM, OLLAMA_GENERATE_STREAM], ids=["chat", "generate"])
def test_ollama_stream_to_openai_chat_at_every_chunk_boundary(upstream: bytes) -> None:
    expected: bytes | None = None
    for pieces in _splits(upstream):
        tr = t.OllamaToOpenAIStream(Api.OPENAI_CHAT, "support", "req-9", include_usage=True, now=NOW)
        out = _pipe_ollama(pieces, tr)
        if expected is None:
            expected = out
        assert out == expected
    assert expected is not None
    events = _openai_events(expected)
    assert events[-1] == "[DONE]"
    chunks = [ChatCompletionChunk.model_validate_json(e) for e in events[:-1]]
    assert {c.id for c in chunks} == {"chatcmpl-req-9"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Billing — é"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert (
        chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 17
    )
    # and through the real client
    stream = _openai_client(expected, sse=True).chat.completions.create(
        model="support", messages=[{"role": "user", "content": "x"}], stream=True
    )
    received = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in received if c.choices) == "Billing — é"


@pytest.mark.parametrize("upstream", [OLLAMA_GENERATE_STREAM, OLLAMA_CHAT_STREAM], ids=["generate", "chat"])
def test_ollama_stream_to_openai_completions(upstream: bytes) -> None:
    tr = t.OllamaToOpenAIStream("openai.completions", "support", "req-9", now=NOW)
    out = _pipe_ollama([upstream], tr)
    events = _openai_events(out)
    assert events[-1] == "[DONE]"
    final = Completion.model_validate_json(events[-2])  # strict: the chunk with a finish_reason
    assert final.choices[0].finish_reason == "stop"
    received = list(
        _openai_client(out, sse=True).completions.create(model="support", prompt="x", stream=True)
    )
    assert "".join(c.choices[0].text for c in received) == "Billing — é"
    assert all(c.usage is None for c in received)


def test_ollama_stream_tool_calls_to_openai() -> None:
    upstream = (
        orjson.dumps(
            {
                "model": "m",
                "done": False,
                "message": {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [{"function": {"name": "lookup", "arguments": {"order": 7}}}],
                },
            }
        )
        + b"\n"
        + _ollama_line("", done=True, **OLLAMA_FINAL)
    )
    out = _pipe_ollama([upstream], t.OllamaToOpenAIStream(Api.OPENAI_CHAT, "m", "r"))
    chunks = [ChatCompletionChunk.model_validate_json(e) for e in _openai_events(out)[:-1]]
    calls = chunks[0].choices[0].delta.tool_calls
    assert calls is not None and calls[0].index == 0 and calls[0].function is not None
    assert calls[0].function.name == "lookup"
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_ollama_error_line_becomes_openai_error_event() -> None:
    upstream = _ollama_line("Bi") + b'{"error":"model crashed"}\n'
    out = _pipe_ollama([upstream], t.OllamaToOpenAIStream(Api.OPENAI_CHAT, "m", "r"))
    assert b"[DONE]" not in out
    stream = _openai_client(out, sse=True).chat.completions.create(model="m", messages=[], stream=True)
    with pytest.raises(openai.APIError, match="model crashed"):
        list(stream)


def test_ollama_stream_cut_before_done_is_an_error_for_the_client() -> None:
    tr = t.OllamaToOpenAIStream(Api.OPENAI_CHAT, "m", "r")
    out = b"".join(tr.feed(orjson.loads(_ollama_line("Bi"))) + tr.finish())
    stream = _openai_client(out, sse=True).chat.completions.create(model="m", messages=[], stream=True)
    with pytest.raises(openai.APIError, match="closed the stream"):
        list(stream)
    assert tr.fail("x") == [] and tr.feed({"done": True}) == []


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
    body = t.openai_error_body("slot 'green' is not ready", "server_error", "slot_unavailable")
    client = _openai_client(body, status=status)
    with pytest.raises(error, match="slot 'green' is not ready") as info:
        client.chat.completions.create(model="m", messages=[])
    assert getattr(info.value, "code", None) == "slot_unavailable"


def test_ollama_error_body_is_what_the_ollama_client_reads() -> None:
    with pytest.raises(ollama.ResponseError) as info:
        _ollama_client(t.ollama_error_body("no slot"), status=503).chat(model="m", messages=[])
    assert info.value.error == "no slot" and info.value.status_code == 503


def test_stream_errors_are_single_terminating_events() -> None:
    assert t.openai_stream_error("boom", "stream_interrupted") == (
        b'data: {"error":{"message":"boom","type":"server_error","param":null,'
        b'"code":"stream_interrupted"}}\n\n'
    )
    assert t.ollama_stream_error('say "no"') == b'{"error":"say \\"no\\""}\n'


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
    assert t.upstream_error_message(body) == message


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
        decoder = t.SSEDecoder()
        got = [p for piece in pieces for p in decoder.feed(piece)] + decoder.finish()
        assert got == payloads, pieces


def test_sse_decoder_cr_then_lf_in_the_next_chunk_is_one_line_end() -> None:
    decoder = t.SSEDecoder()
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
        decoder = t.NDJSONDecoder()
        assert [line for piece in pieces for line in decoder.feed(piece)] + decoder.finish() == lines


@pytest.mark.parametrize("decoder", [t.SSEDecoder(max_buffer=16), t.NDJSONDecoder(max_buffer=16)])
def test_decoders_refuse_unbounded_lines(decoder: t.SSEDecoder | t.NDJSONDecoder) -> None:
    assert decoder.feed(b"data: 1234\n\ndata: 5678") == (
        [b"1234"] if isinstance(decoder, t.SSEDecoder) else [b"data: 1234"]
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
    assert t.extract_output(api, obj) == text


@pytest.mark.parametrize(
    ("api", "obj", "tokens"),
    [
        (Api.OPENAI_CHAT, LLAMACPP_CHAT_RESPONSE, 3),
        (Api.OPENAI_CHAT, _chat_chunk(None, timings=TIMINGS), 3),
        (Api.OPENAI_CHAT, _chat_chunk({"content": "x"}), None),
        (Api.OLLAMA_CHAT, OLLAMA_CHAT_RESPONSE, 17),
        (Api.OLLAMA_GENERATE, {"response": "x", "done": False}, None),
        (Api.OLLAMA_GENERATE, {"eval_count": True}, None),
    ],
)
def test_extract_completion_tokens(api: Api, obj: Any, tokens: int | None) -> None:
    assert t.extract_completion_tokens(api, obj) == tokens


@pytest.mark.parametrize("ts", [0.0, 1.5, NOW, 1_700_000_000.999999, 4_102_444_799.000001])
def test_rfc3339_matches_datetime(ts: float) -> None:
    parsed = datetime.strptime(t.rfc3339(ts), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(parsed.timestamp() - ts) < 2e-6
    assert t.rfc3339(ts) == t.rfc3339(ts)  # the cached second gives the same answer
