"""Errors as each client API expects them: OpenAI's JSON/SSE error, Ollama's {"error": ...}."""

from __future__ import annotations

from slipway.core.records import Api
from slipway.gateway import translate
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
        return translate.ollama_error_body(message)
    return translate.openai_error_body(message, _TYPES.get(status, "api_error"), code, param)


def stream_error_event(api: Api, message: str, code: str) -> bytes:
    if is_ollama(api):
        return translate.ollama_stream_error(message)
    return translate.openai_stream_error(message, code)


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
