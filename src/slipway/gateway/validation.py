"""The shape checks a request passes before a slot is chosen: a client's mistake is not a slot's error.

Only what every backend would refuse is checked here (the field that carries
the input, and the types slipway itself reads); everything else passes
through for the backend to judge. A request refused here is answered with a
400 in the client's API and is not recorded against any slot, so a client
sending bad requests cannot make a canary look broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from slipway.core.records import Api

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
        as_sent = f" (it was sent as {sent})" if sent and sent != "application/json" else ""
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
    return request_problem(api, body) or body


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
