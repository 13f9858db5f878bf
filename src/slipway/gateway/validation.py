"""The shape checks a request passes before a slot is chosen: a client's mistake is not a slot's error.

Only what every backend would refuse is checked here (the field that carries
the input, and the types slipway itself reads); everything else passes
through for the backend to judge. A request refused here is answered with a
400 in the client's API and is not recorded against any slot, so a client
sending bad requests cannot make a canary look broken.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from slipway.core.record_bounds import CATEGORY_MAX_CHARS, SLOT_NAME_MAX_CHARS, STICKY_KEY_MAX_CHARS
from slipway.core.records import Api

#: Limits on what a client may attach to a request, each refused with a 400 that names it: the
#: record's own bounds, since the category and sticky key are stored with every record (and the
#: category is sent on to the backend as a header).
MAX_CATEGORY_CHARS = CATEGORY_MAX_CHARS
MAX_STICKY_KEY_CHARS = STICKY_KEY_MAX_CHARS
MAX_SLOT_NAME_CHARS = SLOT_NAME_MAX_CHARS
#: A drill token is 43 characters (32 random bytes, URL-safe base64); anything longer is not one.
MAX_DRILL_TOKEN_CHARS = 64
#: Deepest JSON nesting accepted in a request body. Real requests (messages, tools, JSON schemas)
#: stay far below it; the encoder that forwards the body refuses more than 254 levels.
MAX_JSON_DEPTH = 128

#: Control characters (C0, DEL, C1): never part of a label, and they would break a header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

_CHAT_EXAMPLE = '[{"role": "user", "content": "..."}]'
_EXAMPLES = {
    Api.OPENAI_CHAT: f'{{"model": "...", "messages": {_CHAT_EXAMPLE}}}',
    Api.OLLAMA_CHAT: f'{{"model": "...", "messages": {_CHAT_EXAMPLE}}}',
    Api.OPENAI_COMPLETIONS: '{"model": "...", "prompt": "..."}',
    Api.OLLAMA_GENERATE: '{"model": "...", "prompt": "..."}',
}


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    #: The offending field, for OpenAI's `error.param`.
    param: str | None = None
    code: str = "invalid_request"


def parse_request(api: Api, raw: bytes, content_type: bytes | None) -> dict[str, Any] | Problem:
    """The request body as a JSON object that passes `request_problem`, or what is wrong with it.

    The Content-Type is not required to be JSON (curl's `-d` sends a form type
    by default); it is only named when the body does not parse, as the likely cause.
    """
    if not raw.strip():
        return Problem(
            f"request body is empty; send a JSON object like {_EXAMPLES[api]}", code="invalid_json"
        )
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        sent = (content_type or b"").split(b";")[0].strip().decode("latin-1")
        # Media types are case-insensitive: Application/JSON is JSON, and not the likely cause.
        as_sent = f" (it was sent as {sent})" if sent and sent.lower() != "application/json" else ""
        return Problem(
            f"request body is not valid JSON: {exc}; send a JSON object with "
            f"Content-Type: application/json{as_sent}",
            code="invalid_json",
        )
    if not isinstance(body, dict):
        return Problem(
            f"request body must be a JSON object like {_EXAMPLES[api]}, got {json_type(body)}",
            code="invalid_body",
        )
    if too_deep(body, MAX_JSON_DEPTH):
        return Problem(
            f"request body is nested more than {MAX_JSON_DEPTH} levels deep; flatten it",
            code="invalid_body",
        )
    return request_problem(api, body) or body


def too_deep(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest deeper than `limit` (walked without recursion); a scalar nests 0."""
    if not isinstance(value, dict | list):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


@dataclass(frozen=True, slots=True)
class ClientLabels:
    """What a client says about its request, beyond the body the backend reads."""

    category: str | None
    sticky_key: str | None
    #: The slot a client pinned with X-Slipway-Slot (smoke tests, debugging), if any.
    slot: str | None
    #: X-Slipway-Drill as sent (bounded, else None): routing honours it only if it is the running drill's id.
    drill: str | None = None


def client_labels(headers: dict[bytes, bytes], body: dict[str, Any]) -> ClientLabels | Problem:
    """The category, sticky key and pinned slot, each checked against its limit, or what is wrong.

    Headers win over the body (`metadata.category`, OpenAI's `user` as the sticky key).
    """
    category = _label(headers.get(b"x-slipway-category"), "X-Slipway-Category", MAX_CATEGORY_CHARS)
    if category is None:
        category = _label(_metadata_category(body), "metadata.category", MAX_CATEGORY_CHARS)
    if isinstance(category, Problem):
        return category
    key = _label(headers.get(b"x-slipway-key"), "X-Slipway-Key", MAX_STICKY_KEY_CHARS)
    if key is None:
        user = body.get("user")
        key = _label(user if isinstance(user, str) else None, "user", MAX_STICKY_KEY_CHARS)
    if isinstance(key, Problem):
        return key
    slot = _label(headers.get(b"x-slipway-slot"), "X-Slipway-Slot", MAX_SLOT_NAME_CHARS)
    if isinstance(slot, Problem):
        return slot
    return ClientLabels(category, key, slot, drill_token(headers.get(b"x-slipway-drill")))


def drill_token(raw: bytes | None) -> str | None:
    """X-Slipway-Drill as text, or None when absent or not a token's shape.

    Never a refusal: a value that cannot be a drill's id is simply not one,
    and the request is routed like any other.
    """
    if not raw or len(raw) > MAX_DRILL_TOKEN_CHARS:
        return None
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return None


def _label(raw: bytes | str | None, name: str, limit: int) -> str | Problem | None:
    if raw is None:
        return None
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return Problem(f"{name} must be UTF-8 text", name, "invalid_label")
    if not raw:
        return None
    if len(raw) > limit:
        return Problem(f"{name} is {len(raw)} characters long; the limit is {limit}", name, "label_too_long")
    if _CONTROL.search(raw):
        return Problem(
            f"{name} contains a control character (such as a line break or NUL); send plain text",
            name,
            "invalid_label",
        )
    return raw


def _metadata_category(body: dict[str, Any]) -> str | None:
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        value = metadata.get("category")
        if isinstance(value, str):
            return value
    return None


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (what a client sent, in the client's terms)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def request_problem(api: Api, body: dict[str, Any]) -> Problem | None:
    """The first thing wrong with a request body that is a JSON object, or None."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        return Problem(f"stream must be true or false, got {json_type(stream)}", "stream")
    prompt = body.get("prompt")
    if api is Api.OPENAI_CHAT:
        return _messages_problem(body.get("messages"), ollama=False)
    if api is Api.OPENAI_COMPLETIONS:
        if isinstance(prompt, str) or (isinstance(prompt, list) and prompt):
            return None
        return Problem(f"prompt is required: a string or an array of strings, got {_got(prompt)}", "prompt")
    if api is Api.OLLAMA_CHAT:
        problem = _messages_problem(body.get("messages"), ollama=True)
    elif not isinstance(prompt, str):
        problem = Problem(f"prompt is required: a string, got {_got(prompt)}", "prompt")
    else:
        problem = None
    return problem or _options_problem(body)


def _got(value: Any) -> str:
    if value is None:
        return "nothing"
    return "an empty array" if value == [] else json_type(value)


def _messages_problem(messages: Any, *, ollama: bool) -> Problem | None:
    if not isinstance(messages, list) or not messages:
        return Problem(
            f"messages is required: a non-empty array like {_CHAT_EXAMPLE}, got {_got(messages)}", "messages"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return Problem(
                f"messages[{i}] must be an object with a string role, like {_CHAT_EXAMPLE[1:-1]}",
                f"messages[{i}]",
            )
        calls = message.get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(map(_is_call, calls))):
            return Problem(
                f'messages[{i}].tool_calls must be an array like [{{"function": {{"name": "...", '
                '"arguments": {...}}}]',
                f"messages[{i}].tool_calls",
            )
        images = message.get("images")
        if ollama and images is not None and not isinstance(images, list):
            return Problem(
                f"messages[{i}].images must be an array of base64 strings", f"messages[{i}].images"
            )
        content = message.get("content")
        if ollama and content is not None and not isinstance(content, str):
            return Problem(
                f"messages[{i}].content must be a string, got {json_type(content)}", f"messages[{i}].content"
            )
        if not ollama and content is not None and not isinstance(content, str | list):
            return Problem(
                f"messages[{i}].content must be a string or an array of content parts, "
                f"got {json_type(content)}",
                f"messages[{i}].content",
            )
    return None


def _is_call(call: Any) -> bool:
    function = call.get("function") if isinstance(call, dict) else None
    return isinstance(function, dict) and isinstance(function.get("name"), str)


def _options_problem(body: dict[str, Any]) -> Problem | None:
    options = body.get("options")
    if options is not None and not isinstance(options, dict):
        return Problem(
            f'options must be an object like {{"temperature": 0}}, got {json_type(options)}', "options"
        )
    return None
