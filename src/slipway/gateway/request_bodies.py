"""Request bodies from an Ollama client, rewritten for an OpenAI-compatible backend.

The gateway translates only when a client's API family differs from the slot
backend's, so an `ollama` client keeps working while a slot moves to a
llama.cpp server (and back); OpenAI clients reach an Ollama backend through
its own /v1, so the other direction is never needed. Pure: dicts in, dicts
out. Shapes follow ollama/docs/api.md, Ollama's own OpenAI layer
(openai/openai.go) and the `openai` and `ollama` Python clients; tests check
every output with those clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

from slipway.core.errors import ValidationError
from slipway.core.records import Api
from slipway.gateway.output import OPENAI_FAMILY

JSON = dict[str, Any]

#: Sampling options with the same name and meaning on both sides. top_k and
#: min_p are not in OpenAI's own API but llama.cpp and vLLM accept them, and
#: dropping them would change how a fine-tuned model samples.
_SHARED_OPTIONS: Final = (
    "temperature",
    "top_p",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "top_k",
    "min_p",
)


def client_wants_stream(api: Api | str, body: Mapping[str, Any]) -> bool:
    """Ollama streams unless told not to; OpenAI streams only when asked."""
    value = body.get("stream")
    if value is None:
        return str(api) not in OPENAI_FAMILY
    return bool(value)


def ollama_chat_to_openai(body: Mapping[str, Any], *, notes: list[str] | None = None) -> JSON:
    """An /api/chat request as a /v1/chat/completions request."""
    notes = [] if notes is None else notes
    messages = body.get("messages") or []
    if not isinstance(messages, list):
        raise ValidationError("messages must be a list", hint="send [{'role': 'user', 'content': '...'}]")
    out: JSON = {"model": body.get("model"), "messages": _ollama_messages_to_openai(messages, notes)}
    _ollama_common_to_openai(Api.OLLAMA_CHAT, body, out, notes)
    if body.get("tools"):
        out["tools"] = body["tools"]  # same {"type": "function", "function": {...}} shape on both sides
    return out


def ollama_generate_to_openai(body: Mapping[str, Any], *, notes: list[str] | None = None) -> JSON:
    """An /api/generate request as a /v1/completions request.

    /v1/completions applies no chat template, so this is exact for `raw`
    requests; for templated ones `system` becomes a prefix of the prompt,
    since the model's template is not applied as Ollama would apply it.
    """
    notes = [] if notes is None else notes
    prompt = _text_field(body, "prompt")
    system = _text_field(body, "system")
    if system and body.get("raw"):
        notes.append("system is ignored in raw mode (as Ollama does)")
    elif system:
        prompt = f"{system}\n\n{prompt}"
    out: JSON = {"model": body.get("model"), "prompt": prompt}
    suffix = _text_field(body, "suffix")
    if suffix:
        out["suffix"] = suffix
    _ollama_common_to_openai(Api.OLLAMA_GENERATE, body, out, notes)
    return out


def _ollama_common_to_openai(api: Api, body: Mapping[str, Any], out: JSON, notes: list[str]) -> None:
    stream = client_wants_stream(api, body)
    out["stream"] = stream
    if stream:
        # Ollama's final line carries token counts; only this makes the server send them.
        out["stream_options"] = {"include_usage": True}
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise ValidationError("options must be an object", hint="send options as {'temperature': 0}")
    for key in _SHARED_OPTIONS:
        if options.get(key) is not None:
            out[key] = options[key]
    stop = _stop_list(options.get("stop"), "options.stop")
    if stop:
        out["stop"] = stop
    num_predict = options.get("num_predict")
    # -1 (unbounded) and -2 (fill the context) have no OpenAI equivalent.
    if isinstance(num_predict, int) and num_predict >= 0:
        out["max_tokens"] = num_predict
    other = sorted(set(options) - {*_SHARED_OPTIONS, "stop", "num_predict"})
    if other:
        notes.append(f"options without an OpenAI equivalent dropped: {', '.join(other)}")
    fmt = body.get("format")
    if fmt == "json":
        out["response_format"] = {"type": "json_object"}
    elif isinstance(fmt, Mapping):
        out["response_format"] = {"type": "json_schema", "json_schema": {"name": "response", "schema": fmt}}
    _drop(body, ("images", "context", "template", "think", "keep_alive", "logprobs"), notes)


def _stop_list(stop: Any, field: str) -> list[str]:
    """Stop sequences as a list; either API takes one string or a list of them."""
    if not stop:
        return []
    if isinstance(stop, str):
        return [stop]
    if isinstance(stop, list) and all(isinstance(item, str) for item in stop):
        return list(stop)
    raise ValidationError(f"{field} must be a string or a list of strings", hint='send e.g. ["\\n\\n"]')


def _ollama_messages_to_openai(messages: Sequence[Any], notes: list[str]) -> list[JSON]:
    out: list[JSON] = []
    call_ids: dict[str, str] = {}
    images = 0
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("role"), str):
            raise ValidationError(f"messages[{i}] must be an object with a role")
        item: JSON = {"role": msg["role"], "content": msg.get("content") or ""}
        images += len(msg.get("images") or ())
        calls = msg.get("tool_calls")
        if calls:
            item["tool_calls"] = _ollama_tool_calls_to_openai(calls, prefix=f"call_{i}_")
            for call in item["tool_calls"]:
                call_ids[call["function"]["name"]] = call["id"]
        if msg["role"] == "tool":
            name = msg.get("tool_name") or msg.get("name") or ""
            item["tool_call_id"] = call_ids.get(name, f"call_{name}")
        out.append(item)
    if images:
        notes.append(f"{images} image(s) dropped: the OpenAI-compatible backend is sent text only")
    return out


def _ollama_tool_calls_to_openai(calls: Sequence[Any], prefix: str) -> list[JSON]:
    out: list[JSON] = []
    for j, call in enumerate(calls):
        function = call.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = orjson.dumps(arguments or {}).decode()
        out.append(
            {
                "id": call.get("id") or f"{prefix}{j}",
                "type": "function",
                "function": {
                    "name": function.get("name", ""),
                    "arguments": arguments,
                },
            }
        )
    return out


def _text_field(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{key} must be a string")
    return value


def _drop(body: Mapping[str, Any], keys: Sequence[str], notes: list[str]) -> None:
    present = [key for key in keys if body.get(key) not in (None, False, "", [], {})]
    if present:
        notes.append(f"fields without an equivalent on the backend dropped: {', '.join(present)}")
