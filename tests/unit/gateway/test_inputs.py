"""What a request asked, as the recorder and the mirror both read it."""

from __future__ import annotations

import json

from slipway.core.lifecycle import RequestBody, RequestInput
from slipway.core.records import Api
from slipway.gateway.inputs import MAX_KEPT_BODY, input_of, request_input, stored_request


def test_chat_contents_are_one_per_line_and_only_user_messages_are_turns() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "sort tickets"},
            {"role": "user", "content": "charged twice"},
            {"role": "assistant", "content": "billing"},
            {"role": "user", "content": [{"type": "text", "text": "refund?"}, {"type": "image_url"}]},
            "not a message",
        ]
    }
    assert input_of(Api.OPENAI_CHAT, body) == ("sort tickets\ncharged twice\nbilling\nrefund?", 2)
    assert input_of(Api.OLLAMA_CHAT, {"messages": []}) == ("", 1)
    assert input_of(Api.OPENAI_COMPLETIONS, {"prompt": ["a", "b"]}) == ("a\nb", 1)
    assert input_of(Api.OLLAMA_GENERATE, {"prompt": "x" * 50}, max_chars=10) == ("x" * 10, 1)
    assert input_of(Api.OPENAI_COMPLETIONS, {}) == ("", 1)


def test_a_shadow_pair_keeps_the_body_up_to_its_limit() -> None:
    body = {"prompt": "p"}
    assert stored_request({"prompt": "p" * 100}, 50) is None and stored_request(body, 50) is body
    assert stored_request({"x": object()}, 50) is None, "what cannot be JSON is not kept"


def test_request_input_cuts_the_text_and_keeps_a_small_body_as_the_client_sent_it() -> None:
    body = {"model": "m", "prompt": "q" * 5_000}
    raw = json.dumps(body).encode()
    kept = request_input("r1", Api.OPENAI_COMPLETIONS, body, max_chars=4_000, raw=raw)
    assert kept == RequestInput("r1", "q" * 4_000, 1, body)
    assert isinstance(kept.request, RequestBody) and kept.request.raw is raw
    assert dict(kept.request) == body and len(kept.request) == 2 and kept.request["model"] == "m"
    large = json.dumps({"prompt": "q" * MAX_KEPT_BODY}).encode()
    assert request_input("r2", Api.OPENAI_COMPLETIONS, body, max_chars=4_000, raw=large).request is None
