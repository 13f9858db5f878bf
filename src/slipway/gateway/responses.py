"""Whole (non-streamed) OpenAI answers as an Ollama client expects them.

Either OpenAI shape is read (a chat completion or a text completion), so the
gateway may send an Ollama generate request to either OpenAI endpoint. Pure:
the clock is read only for `created_at`, and tests pass their own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from slipway.core.errors import ValidationError
from slipway.gateway.output import first_choice

JSON = dict[str, Any]


def openai_chat_response_to_ollama(
    resp: Mapping[str, Any], model: str, *, total_duration_ns: int | None = None, now: float | None = None
) -> JSON:
    """An OpenAI completion (chat or text) as an /api/chat response."""
    return _openai_response_to_ollama(resp, model, True, total_duration_ns, now)


def openai_completion_response_to_ollama(
    resp: Mapping[str, Any], model: str, *, total_duration_ns: int | None = None, now: float | None = None
) -> JSON:
    """An OpenAI completion (text or chat) as an /api/generate response."""
    return _openai_response_to_ollama(resp, model, False, total_duration_ns, now)


def _openai_response_to_ollama(
    resp: Mapping[str, Any], model: str, chat: bool, total_ns: int | None, now: float | None
) -> JSON:
    choice = first_choice(resp)
    found = choice.get("message")
    message: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    text = message.get("content") if message else choice.get("text")
    out: JSON = {"model": model, "created_at": rfc3339(time.time() if now is None else now)}
    if chat:
        msg: JSON = {"role": "assistant", "content": text or ""}
        thinking = message.get("reasoning_content") or message.get("reasoning")
        if thinking:
            msg["thinking"] = thinking
        if message.get("tool_calls"):
            msg["tool_calls"] = [_openai_tool_call_to_ollama(c, 0) for c in message["tool_calls"]]
        out["message"] = msg
    else:
        out["response"] = text or ""
    out["done"] = True
    out["done_reason"] = done_reason(choice.get("finish_reason"))
    out.update(ollama_metrics(resp.get("usage"), resp.get("timings"), total_ns, None, None))
    return out


def _openai_tool_call_to_ollama(call: Any, index: int) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise ValidationError(f"messages[{index}].tool_calls: each call needs function.name")
    return {"function": {"name": function["name"], "arguments": parse_arguments(function.get("arguments"))}}


def parse_arguments(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw or {}
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": raw}  # keep what the model said rather than fail the whole request


def done_reason(finish_reason: Any) -> str:
    # Ollama reports tool calls with done_reason "stop" too.
    return "length" if finish_reason == "length" else "stop"


def ollama_metrics(
    usage: Any, timings: Any, total_ns: int | None, prompt_ns: int | None, eval_ns: int | None
) -> JSON:
    """Ollama's final-line counters from OpenAI usage and llama.cpp's `timings`, else as measured."""
    usage = usage if isinstance(usage, Mapping) else {}
    timings = timings if isinstance(timings, Mapping) else {}
    prompt_count = usage.get("prompt_tokens", timings.get("prompt_n"))
    eval_count = usage.get("completion_tokens", timings.get("predicted_n"))
    if isinstance(timings.get("prompt_ms"), int | float):
        prompt_ns = int(timings["prompt_ms"] * 1_000_000)
    if isinstance(timings.get("predicted_ms"), int | float):
        eval_ns = int(timings["predicted_ms"] * 1_000_000)
    out: JSON = {}
    if total_ns is not None:
        out["total_duration"] = total_ns
    if isinstance(prompt_count, int | float):
        out["prompt_eval_count"] = int(prompt_count)
    if prompt_ns is not None:
        out["prompt_eval_duration"] = prompt_ns
    if isinstance(eval_count, int | float):
        out["eval_count"] = int(eval_count)
    if eval_ns:  # clients divide eval_count by it
        out["eval_duration"] = eval_ns
    return out


def rfc3339(ts: float) -> str:
    """Ollama's `created_at`: UTC with a Z, to the microsecond (written for every streamed token)."""
    second = int(ts)
    cached, prefix = _SECOND[0]
    if second != cached:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _SECOND[0] = (second, prefix)
    return f"{prefix}.{int((ts - second) * 1_000_000):06d}Z"


#: The last formatted whole second; a stream writes many lines within one.
_SECOND: list[tuple[int, str]] = [(-1, "")]
