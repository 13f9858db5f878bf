"""An OpenAI stream as an Ollama client expects it, line by line as the chunks pass."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from slipway.core.records import Api
from slipway.gateway.errors import error_text, ollama_stream_error
from slipway.gateway.output import first_choice
from slipway.gateway.responses import done_reason, ollama_metrics, parse_arguments, rfc3339

JSON = dict[str, Any]


class OpenAIToOllamaStream:
    """OpenAI SSE chunk objects in, Ollama NDJSON lines out (an `ollama` client on an OpenAI slot).

    Ollama's last line carries done_reason and the token counts, which an
    OpenAI server spreads over the finish chunk and a later usage chunk; so
    the last line is written by `finish()`, once the upstream said [DONE].
    Upstream chunks may be chat deltas or text completions.
    """

    __slots__ = (
        "_calls",
        "_chat",
        "_closed",
        "_finish_reason",
        "_first_ns",
        "_model_json",
        "_started_ns",
        "_ticks_ns",
        "_timings",
        "_usage",
        "_wall",
        "model",
    )

    def __init__(
        self,
        client_api: Api | str,
        model: str,
        *,
        ticks_ns: Callable[[], int] = time.perf_counter_ns,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._chat = str(client_api) == Api.OLLAMA_CHAT.value
        self.model = model
        self._model_json = orjson.dumps(model)
        self._ticks_ns = ticks_ns
        self._wall = wall
        self._started_ns = ticks_ns()
        self._first_ns: int | None = None
        self._finish_reason: Any = None
        self._usage: Any = None
        self._timings: Any = None
        self._calls: dict[int, JSON] = {}
        self._closed = False

    def feed(self, obj: Mapping[str, Any]) -> list[bytes]:
        if self._closed:
            return []
        if obj.get("error") is not None:
            self._closed = True
            return [ollama_stream_error(error_text(obj))]
        if obj.get("usage"):
            self._usage = obj["usage"]
        if obj.get("timings"):
            self._timings = obj["timings"]
        choice = first_choice(obj)
        if not choice:
            return []
        if choice.get("finish_reason"):
            self._finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            text = delta.get("content") or ""
            thinking = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if delta.get("tool_calls"):
                self._collect_calls(delta["tool_calls"])
        else:
            text, thinking = choice.get("text") or "", ""
        if not text and not thinking:
            return []
        if self._first_ns is None:
            self._first_ns = self._ticks_ns()
        return [self._line(text, thinking)]

    def finish(self) -> list[bytes]:
        """The final line (done=true), after the upstream's [DONE]."""
        if self._closed:
            return []
        self._closed = True
        out: list[bytes] = []
        if self._calls and self._chat:
            calls = [
                {"function": {"name": c["name"], "arguments": parse_arguments(c["arguments"])}}
                for _, c in sorted(self._calls.items())
            ]
            out.append(self._obj_line({"role": "assistant", "content": "", "tool_calls": calls}, done=False))
        end = self._ticks_ns()
        first = self._first_ns if self._first_ns is not None else end
        final = self._obj(self._message("", ""), done=True)
        final["done_reason"] = done_reason(self._finish_reason)
        started = self._started_ns
        final.update(ollama_metrics(self._usage, self._timings, end - started, first - started, end - first))
        out.append(orjson.dumps(final) + b"\n")
        return out

    def fail(self, message: str) -> list[bytes]:
        """End the stream with Ollama's error line (the `ollama` client raises ResponseError)."""
        if self._closed:
            return []
        self._closed = True
        return [ollama_stream_error(message)]

    def _collect_calls(self, fragments: Sequence[Any]) -> None:
        for fragment in fragments:
            if not isinstance(fragment, Mapping):
                continue
            call = self._calls.setdefault(int(fragment.get("index", 0)), {"name": "", "arguments": ""})
            function = fragment.get("function") or {}
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""

    def _message(self, text: str, thinking: str) -> JSON:
        message: JSON = {"role": "assistant", "content": text}
        if thinking:
            message["thinking"] = thinking
        return message

    def _obj(self, message: JSON, *, done: bool) -> JSON:
        obj: JSON = {"model": self.model, "created_at": rfc3339(self._wall())}
        if self._chat:
            obj["message"] = message
        else:
            obj["response"] = message["content"]
            if message.get("thinking"):
                obj["thinking"] = message["thinking"]
        obj["done"] = done
        return obj

    def _obj_line(self, message: JSON, *, done: bool) -> bytes:
        return orjson.dumps(self._obj(message, done=done)) + b"\n"

    def _line(self, text: str, thinking: str) -> bytes:
        if thinking:
            return self._obj_line(self._message(text, thinking), done=False)
        # The hot path: one token, assembled without building a dict.
        head = b'{"model":' + self._model_json + b',"created_at":"' + rfc3339(self._wall()).encode()
        if self._chat:
            head += b'","message":{"role":"assistant","content":'
            return head + orjson.dumps(text) + b'},"done":false}\n'
        return head + b'","response":' + orjson.dumps(text) + b',"done":false}\n'
