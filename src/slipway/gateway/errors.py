"""Errors as each client API expects them: OpenAI's JSON/SSE error, Ollama's {"error": ...}.

Also the other way: the human message inside an upstream's error body, so a
client is told what the backend said rather than a bare status.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from slipway.core.records import Api
from slipway.gateway.asgi import JSON_HEADERS, Send, send_bytes

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def is_ollama(api: Api) -> bool:
    return api in (Api.OLLAMA_CHAT, Api.OLLAMA_GENERATE)


def error_body(api: Api, status: int, message: str, code: str, param: str | None = None) -> bytes:
    if is_ollama(api):
        return ollama_error_body(message)
    return openai_error_body(message, _TYPES.get(status, "api_error"), code, param)


def stream_error_event(api: Api, message: str, code: str) -> bytes:
    if is_ollama(api):
        return ollama_stream_error(message)
    return openai_stream_error(message, code)


async def send_error(
    send: Send,
    api: Api,
    status: int,
    message: str,
    code: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    *,
    param: str | None = None,
) -> None:
    await send_bytes(
        send, status, error_body(api, status, message, code, param), JSON_HEADERS + (extra_headers or [])
    )


def openai_error_body(message: str, type: str, code: str | None, param: str | None = None) -> bytes:
    """OpenAI's error body; the `openai` client reads `error.message` from it."""
    return orjson.dumps({"error": {"message": message, "type": type, "param": param, "code": code}})


def ollama_error_body(message: str) -> bytes:
    """Ollama's error body; the `ollama` client raises ResponseError with its text."""
    return orjson.dumps({"error": message})


def openai_stream_error(message: str, code: str | None, type: str = "server_error") -> bytes:
    """A terminating SSE error event, as llama.cpp and vLLM send; the `openai` client raises APIError."""
    return b"data: " + openai_error_body(message, type, code) + b"\n\n"


def ollama_stream_error(message: str) -> bytes:
    """Ollama's mid-stream error line."""
    return orjson.dumps({"error": message}) + b"\n"


def upstream_error_message(body: bytes, limit: int = 500) -> str:
    """The human message inside an upstream error body of either family (or its text)."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:limit].decode("utf-8", "replace").strip()
    if isinstance(obj, Mapping):
        return error_text(obj)[:limit]
    return str(obj)[:limit]


def error_text(obj: Mapping[str, Any]) -> str:
    error = obj.get("error", obj)
    if isinstance(error, Mapping):
        for key in ("message", "detail", "error"):
            if isinstance(error.get(key), str):
                return str(error[key])
    elif isinstance(error, str):
        return error
    return orjson.dumps(error).decode()
