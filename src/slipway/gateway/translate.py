"""OpenAI ⇄ Ollama wire shapes, and the incremental stream decoders the proxy reads with.

The gateway translates only when a client's API family differs from the slot
backend's, so an `ollama` client keeps working while a slot moves to a
llama.cpp server (and back). Everything here is pure: dicts in, dicts or
ready-to-send bytes out; the clock is read only for timestamps, and tests
pass their own.

Response translators accept either upstream shape of their family (a chat
completion or a text completion; an /api/chat or /api/generate line), so the
gateway may send an Ollama generate request to either OpenAI endpoint.

Shapes follow ollama/docs/api.md, Ollama's own OpenAI layer (openai/openai.go)
and the `openai` and `ollama` Python clients; tests parse every output with
those clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import orjson

from slipway.core.errors import BackendError, ValidationError
from slipway.core.records import Api

JSON = dict[str, Any]

SSE_DONE: Final = b"data: [DONE]\n\n"

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
_OPENAI_FAMILY: Final = frozenset({Api.OPENAI_CHAT.value, Api.OPENAI_COMPLETIONS.value})


# ---------------------------------------------------------------- requests


def client_wants_stream(api: Api | str, body: Mapping[str, Any]) -> bool:
    """Ollama streams unless told not to; OpenAI streams only when asked."""
    value = body.get("stream")
    if value is None:
        return str(api) not in _OPENAI_FAMILY
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
    requests; for templated ones `system` becomes a prefix of the prompt. Use
    `ollama_generate_to_openai_chat` to keep Ollama's templating instead.
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


def ollama_generate_to_openai_chat(body: Mapping[str, Any], *, notes: list[str] | None = None) -> JSON:
    """A templated /api/generate request as a /v1/chat/completions request.

    Ollama renders a non-raw prompt through the model's chat template; the
    server's chat endpoint does the same, so a fine-tuned chat model sees the
    prompt it was trained on. Raw requests belong on /v1/completions.
    """
    notes = [] if notes is None else notes
    messages: list[JSON] = []
    system = _text_field(body, "system")
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": _text_field(body, "prompt")})
    out: JSON = {"model": body.get("model"), "messages": messages}
    if _text_field(body, "suffix"):
        notes.append("suffix dropped: chat completions cannot fill in the middle")
    _ollama_common_to_openai(Api.OLLAMA_GENERATE, body, out, notes)
    return out


def openai_chat_to_ollama(body: Mapping[str, Any], *, notes: list[str] | None = None) -> JSON:
    """A /v1/chat/completions request as an /api/chat request."""
    notes = [] if notes is None else notes
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValidationError("messages must be a non-empty list", hint="send at least one user message")
    out: JSON = {"model": body.get("model"), "messages": _openai_messages_to_ollama(messages, notes)}
    _openai_common_to_ollama(Api.OPENAI_CHAT, body, out, notes)
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping):
        if fmt.get("type") == "json_object":
            out["format"] = "json"
        elif fmt.get("type") == "json_schema":
            schema = (fmt.get("json_schema") or {}).get("schema")
            if schema is not None:
                out["format"] = schema
    if body.get("tools"):
        out["tools"] = body["tools"]
    _drop(body, ("tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs"), notes)
    return out


def openai_completions_to_ollama(body: Mapping[str, Any], *, notes: list[str] | None = None) -> JSON:
    """A /v1/completions request as an /api/generate request.

    The request is sent `raw` because /v1/completions continues text without
    a chat template; a canary must not answer differently from production
    just because the two slots run different servers.
    """
    notes = [] if notes is None else notes
    prompt = body.get("prompt", "")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ValidationError(
            "prompt must be one string for an Ollama backend",
            hint="send one prompt per request; token arrays and batches are not supported",
        )
    out: JSON = {"model": body.get("model"), "prompt": prompt, "raw": True}
    if body.get("suffix"):
        out["suffix"] = body["suffix"]
    _openai_common_to_ollama(Api.OPENAI_COMPLETIONS, body, out, notes)
    _drop(body, ("echo", "best_of", "logprobs", "logit_bias"), notes)
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


def _openai_common_to_ollama(api: Api, body: Mapping[str, Any], out: JSON, notes: list[str]) -> None:
    out["stream"] = client_wants_stream(api, body)
    # Unset sampling options stay unset: the Modelfile's defaults are part of the
    # fine-tuned release. (Ollama's own /v1 layer forces temperature and top_p to 1.)
    options: JSON = {key: body[key] for key in _SHARED_OPTIONS if body.get(key) is not None}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if isinstance(max_tokens, int):
        options["num_predict"] = max_tokens
    stop = _stop_list(body.get("stop"), "stop")
    if stop:
        options["stop"] = stop
    if options:
        out["options"] = options
    if isinstance(body.get("n"), int) and body["n"] > 1:
        notes.append("n > 1 is not supported by Ollama; one choice is returned")


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


def _openai_messages_to_ollama(messages: Sequence[Any], notes: list[str]) -> list[JSON]:
    out: list[JSON] = []
    names: dict[str, str] = {}
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("role"), str):
            raise ValidationError(f"messages[{i}] must be an object with a role")
        role = "system" if msg["role"] == "developer" else msg["role"]
        text, images = _openai_content(msg.get("content"), i, notes)
        item: JSON = {"role": role, "content": text}
        if images:
            item["images"] = images
        calls = msg.get("tool_calls")
        if calls:
            item["tool_calls"] = [_openai_tool_call_to_ollama(call, i) for call in calls]
            for call in calls:
                names[str(call.get("id"))] = call["function"]["name"]
        if role == "tool":
            name = msg.get("name") or names.get(str(msg.get("tool_call_id")))
            if name:
                item["tool_name"] = name
        out.append(item)
    return out


def _openai_content(content: Any, index: int, notes: list[str]) -> tuple[str, list[str]]:
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise ValidationError(f"messages[{index}].content must be a string or a list of parts")
    texts: list[str] = []
    images: list[str] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url", "") if isinstance(image, Mapping) else str(image or "")
            head, sep, data = url.partition(";base64,")
            if sep and head.startswith("data:"):
                images.append(data)
            else:
                notes.append(f"messages[{index}]: image URL dropped (Ollama takes inline base64 images only)")
        else:
            notes.append(f"messages[{index}]: content part of type {kind!r} dropped")
    return "\n".join(texts), images


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


def _openai_tool_call_to_ollama(call: Any, index: int) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise ValidationError(f"messages[{index}].tool_calls: each call needs function.name")
    return {"function": {"name": function["name"], "arguments": _parse_arguments(function.get("arguments"))}}


def _parse_arguments(raw: Any) -> Any:
    if not isinstance(raw, str):
        return raw or {}
    try:
        return orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return {"_raw": raw}  # keep what the model said rather than fail the whole request


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


# ---------------------------------------------------------------- responses


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
    choice = _first_choice(resp)
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
    out["done_reason"] = _done_reason(choice.get("finish_reason"))
    out.update(_ollama_metrics(resp.get("usage"), resp.get("timings"), total_ns, None, None))
    return out


def ollama_chat_response_to_openai(
    resp: Mapping[str, Any], model: str, request_id: str, *, now: float | None = None
) -> JSON:
    """An Ollama response (chat or generate) as a `chat.completion`."""
    text, thinking, calls = _ollama_parts(resp)
    message: JSON = {"role": "assistant", "content": text}
    if thinking:
        message["reasoning_content"] = thinking  # llama.cpp's and vLLM's name for it
    if calls:
        message["tool_calls"] = _ollama_tool_calls_to_openai(calls, prefix="call_")
    out: JSON = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time() if now is None else now),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(resp.get("done_reason"), bool(calls)),
            }
        ],
    }
    usage = _openai_usage(resp)
    if usage is not None:
        out["usage"] = usage
    return out


def ollama_generate_response_to_openai(
    resp: Mapping[str, Any], model: str, request_id: str, *, now: float | None = None
) -> JSON:
    """An Ollama response (generate or chat) as a `text_completion`."""
    text, _thinking, _calls = _ollama_parts(resp)
    out: JSON = {
        "id": f"cmpl-{request_id}",
        "object": "text_completion",
        "created": int(time.time() if now is None else now),
        "model": model,
        "choices": [
            {
                "index": 0,
                "text": text,
                "logprobs": None,
                "finish_reason": _finish_reason(resp.get("done_reason"), False),
            }
        ],
    }
    usage = _openai_usage(resp)
    if usage is not None:
        out["usage"] = usage
    return out


def _first_choice(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    choices = obj.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, Mapping) and choice.get("index", 0) == 0:
                return choice
    return {}


def _ollama_parts(obj: Mapping[str, Any]) -> tuple[str, str, list[Any]]:
    message = obj.get("message")
    if isinstance(message, Mapping):
        return message.get("content") or "", message.get("thinking") or "", message.get("tool_calls") or []
    return obj.get("response") or "", obj.get("thinking") or "", []


def _finish_reason(done_reason: Any, tool_calls: bool) -> str:
    # Ollama also says "load" and "unload", which OpenAI clients reject; they finished normally.
    if tool_calls:
        return "tool_calls"
    return "length" if done_reason == "length" else "stop"


def _done_reason(finish_reason: Any) -> str:
    # Ollama reports tool calls with done_reason "stop" too.
    return "length" if finish_reason == "length" else "stop"


def _openai_usage(obj: Mapping[str, Any]) -> JSON | None:
    prompt, completion = obj.get("prompt_eval_count"), obj.get("eval_count")
    if not isinstance(prompt, int) and not isinstance(completion, int):
        return None
    p = prompt if isinstance(prompt, int) else 0
    c = completion if isinstance(completion, int) else 0
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _ollama_metrics(
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


# ---------------------------------------------------------------- streams


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
        "_clock",
        "_closed",
        "_finish_reason",
        "_first_ns",
        "_model_json",
        "_started_ns",
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
        clock: Callable[[], int] = time.perf_counter_ns,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._chat = str(client_api) == Api.OLLAMA_CHAT.value
        self.model = model
        self._model_json = orjson.dumps(model)
        self._clock = clock
        self._wall = wall
        self._started_ns = clock()
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
            return [ollama_stream_error(_error_text(obj))]
        if obj.get("usage"):
            self._usage = obj["usage"]
        if obj.get("timings"):
            self._timings = obj["timings"]
        choice = _first_choice(obj)
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
            self._first_ns = self._clock()
        return [self._line(text, thinking)]

    def finish(self) -> list[bytes]:
        """The final line (done=true), after the upstream's [DONE]."""
        if self._closed:
            return []
        self._closed = True
        out: list[bytes] = []
        if self._calls and self._chat:
            calls = [
                {"function": {"name": c["name"], "arguments": _parse_arguments(c["arguments"])}}
                for _, c in sorted(self._calls.items())
            ]
            out.append(self._obj_line({"role": "assistant", "content": "", "tool_calls": calls}, done=False))
        end = self._clock()
        first = self._first_ns if self._first_ns is not None else end
        final = self._obj(self._message("", ""), done=True)
        final["done_reason"] = _done_reason(self._finish_reason)
        started = self._started_ns
        final.update(_ollama_metrics(self._usage, self._timings, end - started, first - started, end - first))
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


class OllamaToOpenAIStream:
    """Ollama NDJSON objects in, OpenAI SSE events out (an `openai` client on an Ollama slot).

    Ollama's `done` line is the only end marker, so it produces the finish
    chunk, the usage chunk when the client asked for one, and `data: [DONE]`.
    An upstream that stops without it is reported as an error event by
    `finish()`, because the answer is incomplete.
    """

    __slots__ = ("_chat", "_closed", "_head", "_include_usage", "_sent_role", "_tool_calls")

    def __init__(
        self,
        client_api: Api | str,
        model: str,
        request_id: str,
        *,
        include_usage: bool = False,
        now: float | None = None,
    ) -> None:
        self._chat = str(client_api) == Api.OPENAI_CHAT.value
        head = {
            "id": f"chatcmpl-{request_id}" if self._chat else f"cmpl-{request_id}",
            "object": "chat.completion.chunk" if self._chat else "text_completion",
            "created": int(time.time() if now is None else now),
            "model": model,
        }
        # Every chunk shares id/object/created/model: serialize them once.
        self._head = b"data: " + orjson.dumps(head)[:-1] + b',"choices":'
        self._include_usage = include_usage
        self._sent_role = False
        self._tool_calls = 0
        self._closed = False

    def feed(self, obj: Mapping[str, Any]) -> list[bytes]:
        if self._closed:
            return []
        if obj.get("error") is not None:
            self._closed = True
            return [openai_stream_error(_error_text(obj), "upstream_error")]
        text, thinking, calls = _ollama_parts(obj)
        out: list[bytes] = []
        if self._chat:
            delta: JSON = {}
            if not self._sent_role:
                delta["role"] = "assistant"
                self._sent_role = True
            if text or "role" in delta:
                delta["content"] = text
            if thinking:
                delta["reasoning_content"] = thinking
            if calls:
                rendered = _ollama_tool_calls_to_openai(calls, prefix=f"call_{self._tool_calls}_")
                delta["tool_calls"] = [{"index": self._tool_calls + k, **c} for k, c in enumerate(rendered)]
                self._tool_calls += len(rendered)
            if delta:
                out.append(self._chunk({"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}))
        elif text:
            out.append(self._chunk({"index": 0, "text": text, "logprobs": None, "finish_reason": None}))
        if obj.get("done"):
            self._closed = True
            reason = _finish_reason(obj.get("done_reason"), self._chat and self._tool_calls > 0)
            last: JSON = {"index": 0, "delta": {}} if self._chat else {"index": 0, "text": ""}
            out.append(self._chunk({**last, "logprobs": None, "finish_reason": reason}))
            usage = _openai_usage(obj)
            if self._include_usage and usage is not None:
                out.append(self._head + b"[]," + b'"usage":' + orjson.dumps(usage) + b"}\n\n")
            out.append(SSE_DONE)
        return out

    def finish(self) -> list[bytes]:
        """Called when the upstream closed; an error event unless its done line came."""
        return self.fail("the backend closed the stream before its final line", "stream_interrupted")

    def fail(self, message: str, code: str = "backend_error") -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        return [openai_stream_error(message, code)]

    def _chunk(self, choice: JSON) -> bytes:
        return self._head + b"[" + orjson.dumps(choice) + b"]}\n\n"


# ---------------------------------------------------------------- errors


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
        return _error_text(obj)[:limit]
    return str(obj)[:limit]


def _error_text(obj: Mapping[str, Any]) -> str:
    error = obj.get("error", obj)
    if isinstance(error, Mapping):
        for key in ("message", "detail", "error"):
            if isinstance(error.get(key), str):
                return str(error[key])
    elif isinstance(error, str):
        return error
    return orjson.dumps(error).decode()


# ---------------------------------------------------------------- decoders


class SSEDecoder:
    """Server-sent events bytes in, complete `data` payloads out.

    Chunks may split anywhere, even between a CR and its LF. Multi-line data
    is joined with newlines (the SSE spec); comments and other fields are
    skipped. Linear in the bytes fed: a line is copied only when it straddles
    two chunks.
    """

    __slots__ = ("_cr", "_data", "_max", "_tail")

    def __init__(self, max_buffer: int = 16 * 1024 * 1024) -> None:
        self._tail = b""
        self._cr = False
        self._data: list[bytes] = []
        self._max = max_buffer

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._cr = False
        if not chunk:
            return []
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            self._cr = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:
            raise BackendError(
                f"the backend sent an SSE line longer than {self._max} bytes",
                hint="check that the slot's endpoint is an OpenAI-compatible server",
            )
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        return out

    def finish(self) -> list[bytes]:
        """What is pending at end of stream: servers that omit the last blank line still count."""
        if self._tail.startswith(b"data:"):
            self._data.append(self._tail[6:] if self._tail[5:6] == b" " else self._tail[5:])
        self._tail = b""
        if not self._data:
            return []
        payload = b"\n".join(self._data)
        self._data.clear()
        return [payload]


class NDJSONDecoder:
    """Newline-delimited JSON bytes in, complete non-empty lines out (parse with orjson)."""

    __slots__ = ("_max", "_tail")

    def __init__(self, max_buffer: int = 16 * 1024 * 1024) -> None:
        self._tail = b""
        self._max = max_buffer

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._tail + chunk if self._tail else chunk
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:
            raise BackendError(
                f"the backend sent an NDJSON line longer than {self._max} bytes",
                hint="check that the slot's endpoint is an Ollama server",
            )
        return [line for line in (raw.strip() for raw in lines) if line]

    def finish(self) -> list[bytes]:
        tail, self._tail = self._tail.strip(), b""
        return [tail] if tail else []


# ---------------------------------------------------------------- reading output


def extract_output(api: Api | str, obj: Any) -> str:
    """The generated text in a response or stream chunk of the given API's family.

    Either shape of the family is read (chat or text completion; /api/chat or
    /api/generate), because a translated request may land on the other one.
    """
    if not isinstance(obj, Mapping):
        return ""
    if str(api) in _OPENAI_FAMILY:
        choice = _first_choice(obj)
        text = choice.get("text")
        if text is None:
            part = choice.get("delta") or choice.get("message")
            text = part.get("content") if isinstance(part, Mapping) else None
        return text if isinstance(text, str) else ""
    message = obj.get("message")
    text = message.get("content") if isinstance(message, Mapping) else obj.get("response")
    return text if isinstance(text, str) else ""


def extract_completion_tokens(api: Api | str, obj: Any) -> int | None:
    """Output tokens reported in a response or final chunk, if the server reported them."""
    if not isinstance(obj, Mapping):
        return None
    if str(api) in _OPENAI_FAMILY:
        usage = obj.get("usage")
        count = usage.get("completion_tokens") if isinstance(usage, Mapping) else None
        if count is None and isinstance(obj.get("timings"), Mapping):
            count = obj["timings"].get("predicted_n")
    else:
        count = obj.get("eval_count")
    return int(count) if isinstance(count, int | float) and not isinstance(count, bool) else None
