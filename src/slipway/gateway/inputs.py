"""What a request asked, flattened once for everything that keeps it: request inputs and shadow pairs.

The recorder keeps a `RequestInput` beside each record and the mirror keeps the
same text in a shadow pair; both read it here, so drift, the shadow report and
a postmortem group one request the same way whichever of them stored it.
Everything here runs on the request path: a walk over the messages, no
serialisation (the body kept is the JSON the client sent).
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from slipway.core.lifecycle import RequestBody, RequestInput
from slipway.core.records import Api
from slipway.core.shadow import MAX_INPUT_TEXT

#: A request body at most this large (as sent) is kept with its input, for replay as a case.
MAX_KEPT_BODY = 16 * 1024


def input_of(api: Api, body: dict[str, Any], max_chars: int = MAX_INPUT_TEXT) -> tuple[str, int]:
    """What the user sent, flattened for analysis (contents one per line), and the number of user turns."""
    if api in (Api.OPENAI_CHAT, Api.OLLAMA_CHAT):
        lines: list[str] = []
        turns = 0
        for message in body.get("messages") or ():
            if not isinstance(message, dict):
                continue
            if message.get("role") == "user":
                turns += 1
            content = message.get("content")
            if isinstance(content, str):
                lines.append(content)
            elif isinstance(content, list):  # OpenAI content parts
                lines.extend(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
        return "\n".join(lines)[:max_chars], max(turns, 1)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = "\n".join(str(p) for p in prompt)
    return (str(prompt) if prompt is not None else "")[:max_chars], 1


def stored_request(body: dict[str, Any], max_bytes: int) -> dict[str, Any] | None:
    """The body itself when it is at most `max_bytes` as JSON, else None (a shadow pair's copy)."""
    with contextlib.suppress(TypeError, orjson.JSONEncodeError):
        if len(orjson.dumps(body)) <= max_bytes:
            return body
    return None


def request_input(
    request_id: str, api: Api, body: dict[str, Any], *, max_chars: int, raw: bytes
) -> RequestInput:
    """The input the recorder keeps for one request: text cut to `max_chars`, its body if small.

    The body is kept as the bytes the client sent (`RequestBody`), not as the
    parsed dict: nothing to serialise again, and nothing for the garbage
    collector to walk while the record waits for its batch.
    """
    text, turns = input_of(api, body, max_chars)
    return RequestInput(request_id, text, turns, RequestBody(raw) if len(raw) <= MAX_KEPT_BODY else None)
