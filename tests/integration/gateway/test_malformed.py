"""A malformed request gets a 400 (or 413, 405) in the client's own API that names what is wrong (GW1).

The gateway answers these itself, before a slot is chosen: the sim behind it
must not see them, and no request id is handed out, so a client's mistakes
never count as a slot's errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import openai
import orjson
import pytest
from tests.faults import profile_yaml, single_slot_yaml
from tests.harness import live_gateway, sim_backend

LIMIT = 4096
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
OLLAMA_CHAT = "/api/chat"
GENERATE = "/api/generate"
ENDPOINTS = [CHAT, COMPLETIONS, OLLAMA_CHAT, GENERATE]
JSON_TYPE = {"content-type": "application/json"}
USER = {"role": "user", "content": "hi"}
GOOD: dict[str, Any] = {
    CHAT: {"model": "m", "messages": [{"role": "user", "content": "refund"}]},
    COMPLETIONS: {"model": "m", "prompt": "refund"},
    OLLAMA_CHAT: {"model": "m", "messages": [{"role": "user", "content": "refund"}], "stream": False},
    GENERATE: {"model": "m", "prompt": "refund", "stream": False},
}


class Site:
    """The gateway under test and the sim behind it, which counts what reached it."""

    def __init__(self, gateway_url: str, sim_url: str) -> None:
        self.url = gateway_url
        self.sim_url = sim_url
        self.http = httpx.Client(base_url=gateway_url)

    def forwarded(self) -> int:
        count: int = httpx.get(f"{self.sim_url}/sim/stats").json()["requests"]
        return count

    def refused(self, path: str, status: int, **request: Any) -> str:
        """Send a request the gateway must refuse itself; return the error message it gives."""
        before = self.forwarded()
        resp = self.http.post(path, **request)
        assert resp.status_code == status, resp.text
        assert self.forwarded() == before, "a malformed request reached the backend"
        assert "x-slipway-request-id" not in resp.headers
        return error_message(resp, path)


def error_message(resp: httpx.Response, path: str) -> str:
    """The message of a well-formed error in the API of `path` (OpenAI under /v1, Ollama under /api)."""
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    if path.startswith("/api/"):
        assert list(body) == ["error"] and isinstance(body["error"], str)
        message: str = body["error"]
        return message
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    message = error["message"]
    return message


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with sim_backend(profile_yaml()) as sim_url:
        config = single_slot_yaml(sim_url) + f"gateway: {{max_body_bytes: {LIMIT}}}\n"
        with live_gateway(tmp_path_factory.mktemp("malformed"), config) as gateway:
            s = Site(gateway.url, sim_url)
            try:
                yield s
            finally:
                s.http.close()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_well_formed_requests_pass(site: Site, path: str) -> None:
    resp = site.http.post(path, json=GOOD[path])
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("path", ENDPOINTS)
def test_invalid_json_says_where_it_breaks(site: Site, path: str) -> None:
    message = site.refused(path, 400, content=b'{"model": "m", "messages": [', headers=JSON_TYPE)
    assert message.startswith("request body is not valid JSON: ")
    assert "line 1 column 29" in message and "(it was sent as" not in message


@pytest.mark.parametrize("path", ENDPOINTS)
def test_an_empty_body_asks_for_an_example_object(site: Site, path: str) -> None:
    message = site.refused(path, 400, content=b"", headers=JSON_TYPE)
    assert message.startswith("request body is empty; send a JSON object like {")


@pytest.mark.parametrize(
    ("body", "got"),
    [
        (b"[]", "an array"),
        (b'"hi"', "a string"),
        (b"42", "a number"),
        (b"null", "null"),
        (b"true", "a boolean"),
    ],
)
@pytest.mark.parametrize("path", [CHAT, GENERATE])
def test_json_that_is_not_an_object(site: Site, path: str, body: bytes, got: str) -> None:
    message = site.refused(path, 400, content=body, headers=JSON_TYPE)
    assert message.startswith("request body must be a JSON object like {") and message.endswith(f"got {got}")


@pytest.mark.parametrize(
    ("path", "body", "param", "says"),
    [
        (CHAT, {"model": "m"}, "messages", "messages is required: a non-empty array like"),
        (CHAT, {"messages": []}, "messages", "got an empty array"),
        (CHAT, {"messages": "hi"}, "messages", "got a string"),
        (CHAT, {"messages": [{"content": "hi"}]}, "messages[0]", "messages[0] must be an object with a"),
        (CHAT, {"messages": [USER, 7]}, "messages[1]", "messages[1] must be an object with a string role"),
        (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content", "got a number"),
        (CHAT, {"messages": [USER], "stream": "yes"}, "stream", "stream must be true or false"),
        (COMPLETIONS, {"model": "m"}, "prompt", "prompt is required: a string or an array of strings"),
        (COMPLETIONS, {"prompt": 5}, "prompt", "got a number"),
        (OLLAMA_CHAT, {"model": "m"}, "messages", "messages is required"),
        (
            OLLAMA_CHAT,
            {"messages": [{"role": "user", "content": ["x"]}]},
            "",
            "must be a string, got an array",
        ),
        (OLLAMA_CHAT, {"messages": [{"role": "user", "tool_calls": [{"function": "f"}]}]}, "", "tool_calls"),
        (
            OLLAMA_CHAT,
            {"messages": [USER], "options": 3},
            "",
            'options must be an object like {"temperature"',
        ),
        (GENERATE, {"model": "m"}, "", "prompt is required: a string, got nothing"),
        (GENERATE, {"prompt": ["a"]}, "", "prompt is required: a string, got an array"),
        # Passes the shape checks; refused while translating to the slot's OpenAI API (a ValidationError).
        (GENERATE, {"prompt": "refund", "system": 5}, "", "system must be a string"),
        (OLLAMA_CHAT, {"messages": [USER], "options": {"stop": 5}}, "", "options.stop must be a string or"),
    ],
)
def test_a_missing_or_mistyped_field_is_named(
    site: Site, path: str, body: dict[str, Any], param: str, says: str
) -> None:
    resp_message = site.refused(path, 400, json=body)
    assert says in resp_message
    if path.startswith("/v1/"):
        error = site.http.post(path, json=body).json()["error"]
        assert (error["param"], error["code"]) == (param, "invalid_request")


def test_official_clients_raise_their_bad_request_errors(site: Site) -> None:
    with openai.OpenAI(base_url=f"{site.url}/v1", api_key="unused", max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(model="m", messages=[])
    assert (caught.value.param, caught.value.code) == ("messages", "invalid_request")
    with ollama.Client(host=site.url) as oc, pytest.raises(ollama.ResponseError) as refused:
        oc.generate(model="m")  # no prompt: Ollama's "load the model" call; slipway answers, not loads
    assert refused.value.status_code == 400 and refused.value.error.startswith("prompt is required")


@pytest.mark.parametrize("path", [CHAT, GENERATE])
def test_a_body_over_the_limit_is_413_naming_the_limit_and_the_setting(site: Site, path: str) -> None:
    big = {**GOOD[path], "padding": "x" * (LIMIT + 1)}
    resp = site.http.post(path, json=big)
    assert resp.status_code == 413
    message = error_message(resp, path) if path.startswith("/api/") else resp.json()["error"]["message"]
    assert f"larger than the limit of {LIMIT} bytes" in message
    assert "raise gateway.max_body_bytes in the routing config" in message
    if path == CHAT:
        assert resp.json()["error"]["code"] == "body_too_large"
    just_under = {**GOOD[path], "padding": "x" * (LIMIT - 200)}
    assert site.http.post(path, json=just_under).status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_json_is_read_whatever_the_content_type_says(site: Site, content_type: str | None) -> None:
    """curl -d sends a form type unless told otherwise; the body decides."""
    headers = {"content-type": content_type} if content_type else {}
    resp = site.http.post(COMPLETIONS, content=orjson.dumps(GOOD[COMPLETIONS]), headers=headers)
    assert resp.status_code == 200, resp.text


def test_a_form_body_is_refused_naming_the_content_type(site: Site) -> None:
    message = site.refused(
        COMPLETIONS,
        400,
        content=b"model=m&prompt=refund",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert "send a JSON object with Content-Type: application/json" in message
    assert message.endswith("(it was sent as application/x-www-form-urlencoded)")


@pytest.mark.parametrize(("path", "allowed"), [(CHAT, "POST"), (GENERATE, "POST"), ("/v1/models", "GET")])
def test_the_wrong_method_is_405_in_the_apis_shape(site: Site, path: str, allowed: str) -> None:
    resp = site.http.request("PUT" if allowed == "POST" else "POST", path, json={})
    assert resp.status_code == 405 and resp.headers["allow"] == allowed
    body = resp.json()
    message = body["error"] if path.startswith("/api/") else body["error"]["message"]
    assert message.endswith(f"is not supported on {path}; use {allowed}")


def test_an_unknown_pinned_slot_names_the_slots(site: Site) -> None:
    message = site.refused(CHAT, 400, json=GOOD[CHAT], headers={"X-Slipway-Slot": "purple"})
    assert message == "X-Slipway-Slot names unknown slot 'purple' (slots: blue)"


# What a client attaches to a request is bounded: a hostile value is a 400 naming the limit,
# never forwarded, never a backend error and never stored whole.


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_category_header_over_200_characters_is_refused_naming_the_limit(site: Site, path: str) -> None:
    message = site.refused(path, 400, json=GOOD[path], headers={"X-Slipway-Category": "b" * 201})
    assert message == "X-Slipway-Category is 201 characters long; the limit is 200"


def test_a_category_of_exactly_200_characters_is_served(site: Site) -> None:
    resp = site.http.post(CHAT, json=GOOD[CHAT], headers={"X-Slipway-Category": "b" * 200})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("size", [8 * 1024, 64 * 1024])
def test_a_huge_category_header_is_a_client_error_not_a_backend_error(site: Site, size: int) -> None:
    message = site.refused(CHAT, 400, json=GOOD[CHAT], headers={"X-Slipway-Category": "x" * size})
    assert f"is {size} characters long; the limit is 200" in message


def test_a_metadata_category_over_the_limit_is_refused(site: Site) -> None:
    body = {**GOOD[CHAT], "metadata": {"category": "c" * 3000}}
    message = site.refused(CHAT, 400, json=body)
    assert message == "metadata.category is 3000 characters long; the limit is 200"


@pytest.mark.parametrize("value", ["billing\r\nX-Evil: 1", "bill\x00ing", "billing\n", "tab\there"])
def test_control_characters_in_a_category_are_refused(site: Site, value: str) -> None:
    body = {**GOOD[CHAT], "metadata": {"category": value}}
    message = site.refused(CHAT, 400, json=body)
    assert "metadata.category contains a control character" in message


def test_a_category_header_that_is_not_utf8_is_refused(site: Site) -> None:
    headers = httpx.Headers([(b"X-Slipway-Category", b"caf\xe9")])  # Latin-1, as an old client sends it
    before = site.forwarded()
    resp = site.http.post(CHAT, json=GOOD[CHAT], headers=headers)
    assert resp.status_code == 400
    assert error_message(resp, CHAT) == "X-Slipway-Category must be UTF-8 text"
    assert site.forwarded() == before


def test_a_utf8_category_is_kept_as_sent(site: Site) -> None:
    headers = httpx.Headers([(b"X-Slipway-Category", "facturación".encode())])
    resp = site.http.post(CHAT, json=GOOD[CHAT], headers=headers)
    assert resp.status_code == 200
    record = site.http.get(f"/admin/requests/{resp.headers['x-slipway-request-id']}").json()
    assert record["request"]["category"] == "facturación"


@pytest.mark.parametrize(
    ("headers", "body", "name", "limit"),
    [
        ({"X-Slipway-Key": "k" * 401}, {}, "X-Slipway-Key", 400),
        ({}, {"user": "u" * 1000}, "user", 400),
        ({"X-Slipway-Slot": "s" * 8192}, {}, "X-Slipway-Slot", 200),
    ],
)
def test_sticky_keys_and_pinned_slots_are_bounded(
    site: Site, headers: dict[str, str], body: dict[str, Any], name: str, limit: int
) -> None:
    message = site.refused(CHAT, 400, json={**GOOD[CHAT], **body}, headers=headers)
    assert message.startswith(f"{name} is ") and message.endswith(f"the limit is {limit}")
    assert len(message) < 200, "the refusal must not echo the value back"


@pytest.mark.parametrize("depth", [129, 254, 600, 1023])
@pytest.mark.parametrize("path", [CHAT, GENERATE])
def test_a_body_nested_too_deep_is_refused(site: Site, path: str, depth: int) -> None:
    # Written out by hand: orjson, like the gateway's own encoder, refuses to write such a body.
    nested = b"[" * (depth - 1) + b'"x"' + b"]" * (depth - 1)
    body = orjson.dumps(GOOD[path])[:-1] + b', "extra": ' + nested + b"}"
    message = site.refused(path, 400, content=body, headers=JSON_TYPE)
    assert message == "request body is nested more than 128 levels deep; flatten it"


def test_a_body_nested_up_to_the_limit_is_served(site: Site) -> None:
    nested: Any = {"type": "string"}
    for _ in range(60):
        nested = {"type": "object", "properties": {"p": nested}}  # a deep JSON schema: 121 levels
    resp = site.http.post(CHAT, json={**GOOD[CHAT], "response_format": {"type": "json_schema", "s": nested}})
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("feedback", "expected"),
    [
        ({"request_id": "r" * 201, "satisfied": True}, "request_id is 201 characters long"),
        ({"request_id": "abc", "label": "l" * 1001}, "label is 1001 characters long; the limit is 1000"),
        ({"request_id": "abc", "label": "bill\x00ing"}, "must not contain NUL characters"),
        ({"request_id": "a\x00c", "satisfied": True}, "must not contain NUL characters"),
    ],
)
def test_feedback_fields_are_bounded(site: Site, feedback: dict[str, Any], expected: str) -> None:
    resp = site.http.post("/v1/feedback", json=feedback)
    assert resp.status_code == 400, resp.text
    assert expected in resp.json()["error"]["message"]


def test_a_feedback_score_that_is_not_finite_is_refused(site: Site) -> None:
    resp = site.http.post("/v1/feedback", content=b'{"request_id": "abc", "score": 1e999}', headers=JSON_TYPE)
    assert resp.status_code == 400, resp.text
    assert "number is infinity" in resp.json()["error"]["message"]
