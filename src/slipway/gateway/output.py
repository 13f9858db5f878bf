"""Read a passing stream just enough to attribute it: TTFT, output length, first words, end marker.

The bytes are forwarded before they are read here, so this costs the client
nothing but CPU; the record needs it for canary and shadow analysis.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

import orjson

from slipway.core.record_bounds import INT4_MAX
from slipway.core.records import Api, RequestRecord
from slipway.gateway.errors import upstream_error_message
from slipway.gateway.framing import NDJSONDecoder, SSEDecoder

HEAD_CHARS = 200

#: The APIs whose answers come in `choices` (a string compares equal to its member).
OPENAI_FAMILY: Final = frozenset({Api.OPENAI_CHAT.value, Api.OPENAI_COMPLETIONS.value})

#: The largest token count a backend may report that is taken as true; beyond it (or negative, or
#: not an integer) the count is not recorded. A backend is not trusted to stay in a column's range.
MAX_TOKEN_COUNT = INT4_MAX


def completion_tokens(obj: dict[str, Any]) -> int | None:
    """Output tokens a response or final stream chunk reports (OpenAI's usage, Ollama's eval_count)."""
    usage = obj.get("usage")
    count = usage.get("completion_tokens") if isinstance(usage, dict) else obj.get("eval_count")
    if isinstance(count, int) and not isinstance(count, bool) and 0 <= count <= MAX_TOKEN_COUNT:
        return count
    return None


def extract_output(api: Api | str, obj: Any) -> str:
    """The generated text in a response or stream chunk of the given API's family.

    Either shape of the family is read (chat or text completion; /api/chat or
    /api/generate), because a translated request may land on the other one.
    """
    if not isinstance(obj, Mapping):
        return ""
    if str(api) in OPENAI_FAMILY:
        choice = first_choice(obj)
        text = choice.get("text")
        if text is None:
            part = choice.get("delta") or choice.get("message")
            text = part.get("content") if isinstance(part, Mapping) else None
        return text if isinstance(text, str) else ""
    message = obj.get("message")
    text = message.get("content") if isinstance(message, Mapping) else obj.get("response")
    return text if isinstance(text, str) else ""


def first_choice(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = obj.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                return choice
    return {}


class OutputTracker:
    def __init__(self, upstream_api: Api, framing: str, t0: float, *, keep: int = HEAD_CHARS) -> None:
        self._api = upstream_api.value
        self._sse = framing == "sse"
        self._decoder: SSEDecoder | NDJSONDecoder = SSEDecoder() if self._sse else NDJSONDecoder()
        self._t0 = t0
        #: How much of the answer to keep: the head for a record, all of it (bounded) for a shadow pair.
        self._keep = keep
        self._parts: list[str] = []
        self._head_len = 0
        self.chars = 0
        self.ttft_ms: float | None = None
        self.tokens: int | None = None
        self.chunks = 0
        self.complete = False
        #: The message of the first error the backend reported in the stream (vLLM, llama.cpp do).
        self.error: str | None = None
        #: The first event that was not a JSON object: a backend that sends garbage has failed,
        #: even if the stream then ends properly.
        self.malformed: bytes | None = None

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        objs: list[dict[str, Any]] = []
        for payload in self._decoder.feed(chunk):
            if self._sse and payload.strip() == b"[DONE]":
                self.complete = True
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                obj = None
            if not isinstance(obj, dict):
                if self.malformed is None:
                    self.malformed = payload[:80]
                continue
            objs.append(obj)
            self.chunks += 1
            if "error" in obj:
                if self.error is None and obj["error"] is not None:
                    self.error = upstream_error_message(payload)
                continue
            text = extract_output(self._api, obj)
            if text:
                if self.ttft_ms is None:
                    self.ttft_ms = (time.perf_counter() - self._t0) * 1000.0
                self.chars += len(text)
                if self._head_len < self._keep:
                    self._parts.append(text)
                    self._head_len += len(text)
            if not self._sse and obj.get("done") is True:
                self.complete = True
            tokens = completion_tokens(obj)
            if tokens is not None:
                self.tokens = tokens
        return objs

    @property
    def text(self) -> str:
        """The answer so far, up to `keep` characters (and a little past: whole chunks are kept)."""
        return "".join(self._parts)

    def finish_into(self, rec: RequestRecord) -> None:
        rec.ttft_ms = self.ttft_ms
        rec.output_chars = self.chars
        rec.output_head = "".join(self._parts)[:HEAD_CHARS]
        rec.output_tokens = self.tokens if self.tokens is not None else (self.chunks or None)
