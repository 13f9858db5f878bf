"""How a client API meets a backend kind: upstream path, framing, and translation.

Translation happens only where the backend cannot speak the client's API: an
Ollama client in front of an OpenAI-compatible server. Everything else is a
byte-for-byte pass-through with the model name rewritten (Ollama itself
serves the OpenAI API under /v1, so OpenAI clients never need translation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slipway.core.records import Api
from slipway.core.types import BackendKind, Slot
from slipway.gateway import request_bodies, responses

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Exchange:
    api: Api
    upstream_path: str
    #: Framing of the upstream stream: "sse" or "ndjson".
    upstream_framing: str
    #: The API whose shapes the upstream returns (for reading output).
    upstream_api: Api
    to_upstream: Callable[[Body], Body] | None = None
    #: Non-stream response translation: (upstream_obj, public_model) -> client_obj.
    from_upstream: Callable[[Body, str], Body] | None = None

    @property
    def translates(self) -> bool:
        return self.to_upstream is not None

    def client_framing(self) -> str:
        return "ndjson" if self.api in (Api.OLLAMA_CHAT, Api.OLLAMA_GENERATE) else "sse"


_PASS = {
    Api.OPENAI_CHAT: Exchange(Api.OPENAI_CHAT, "/v1/chat/completions", "sse", Api.OPENAI_CHAT),
    Api.OPENAI_COMPLETIONS: Exchange(
        Api.OPENAI_COMPLETIONS, "/v1/completions", "sse", Api.OPENAI_COMPLETIONS
    ),
    Api.OLLAMA_CHAT: Exchange(Api.OLLAMA_CHAT, "/api/chat", "ndjson", Api.OLLAMA_CHAT),
    Api.OLLAMA_GENERATE: Exchange(Api.OLLAMA_GENERATE, "/api/generate", "ndjson", Api.OLLAMA_GENERATE),
}

_TRANSLATED = {
    Api.OLLAMA_CHAT: Exchange(
        Api.OLLAMA_CHAT,
        "/v1/chat/completions",
        "sse",
        Api.OPENAI_CHAT,
        to_upstream=request_bodies.ollama_chat_to_openai,
        from_upstream=responses.openai_chat_response_to_ollama,
    ),
    Api.OLLAMA_GENERATE: Exchange(
        Api.OLLAMA_GENERATE,
        "/v1/completions",
        "sse",
        Api.OPENAI_COMPLETIONS,
        to_upstream=request_bodies.ollama_generate_to_openai,
        from_upstream=responses.openai_completion_response_to_ollama,
    ),
}


def exchange_for(api: Api, kind: BackendKind) -> Exchange:
    if kind is not BackendKind.OLLAMA and api in _TRANSLATED:
        return _TRANSLATED[api]
    return _PASS[api]


def upstream_body(
    exchange: Exchange, body: Body, slot: Slot, stream: bool, extras: Body | None = None
) -> Body:
    """The request as the slot's backend should see it; `extras` (llama.cpp's `lora`) win."""
    out = exchange.to_upstream(body) if exchange.to_upstream is not None else dict(body)
    if extras:
        out.update(extras)
    out["model"] = slot.backend_model
    out["stream"] = stream
    if not stream:
        # Only meaningful with a stream: OpenAI's API and vLLM refuse it on a plain request.
        out.pop("stream_options", None)
    elif exchange.upstream_framing == "sse" and exchange.translates:
        # Ollama's final line carries token counts; ask the OpenAI server for them.
        out.setdefault("stream_options", {"include_usage": True})
    return out
