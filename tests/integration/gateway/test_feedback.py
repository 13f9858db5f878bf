"""Late feedback and ground truth attach to a request id (GW3): POST /v1/feedback.

The id is the X-Slipway-Request-Id header of the answer; feedback sent right
after the answer must find its record even though records are written in
batches (GW4), and a bad body is refused without storing anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from tests.faults import request_record
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """One slipway for the module: every test works on request ids of its own."""
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path_factory.mktemp("feedback"), routing_yaml(blue, green)) as gw,
    ):
        yield gw


@pytest.fixture
def http(gateway: Gateway) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.url) as client:
        yield client


def answered(http: httpx.Client, path: str = "/v1/chat/completions") -> str:
    """Send one request; return its id."""
    body: dict[str, Any] = {"model": "m", "stream": False}
    if path.endswith("chat") or path.endswith("chat/completions"):
        body["messages"] = [{"role": "user", "content": "refund my invoice"}]
    else:
        body["prompt"] = "refund my invoice"
    resp = http.post(path, json=body)
    assert resp.status_code == 200, resp.text
    return resp.headers["x-slipway-request-id"]


def test_feedback_right_after_the_answer_is_stored_and_shown(gateway: Gateway, http: httpx.Client) -> None:
    rid = answered(http)
    resp = http.post(
        "/v1/feedback", json={"request_id": rid, "satisfied": False, "label": "billing", "score": 0.25}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"request_id": rid, "accepted": True}
    shown = request_record(gateway, rid)
    assert shown["request"]["request_id"] == rid
    feedback = shown["feedback"]
    assert (feedback["satisfied"], feedback["label"], feedback["score"]) == (False, "billing", 0.25)
    assert feedback["request_id"] == rid and feedback["at"] > shown["request"]["started_at"]


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"satisfied": True}, (True, None, None)),
        ({"label": "shipping"}, (None, "shipping", None)),
        ({"score": 1}, (None, None, 1.0)),
        ({"label": "", "satisfied": None}, (None, "", None)),
    ],
)
@pytest.mark.parametrize("path", ["/v1/completions", "/api/chat", "/api/generate"])
def test_any_one_field_is_enough_on_any_api(
    gateway: Gateway, http: httpx.Client, path: str, fields: dict[str, Any], shown: tuple[Any, ...]
) -> None:
    rid = answered(http, path)
    assert http.post("/v1/feedback", json={"request_id": rid, **fields}).status_code == 200
    feedback = request_record(gateway, rid)["feedback"]
    assert (feedback["satisfied"], feedback["label"], feedback["score"]) == shown


def test_the_latest_feedback_is_shown(gateway: Gateway, http: httpx.Client) -> None:
    rid = answered(http)
    for label in ("billing", "account", "shipping"):
        assert http.post("/v1/feedback", json={"request_id": rid, "label": label}).status_code == 200
    assert request_record(gateway, rid)["feedback"]["label"] == "shipping"


def test_an_id_from_the_openai_client_headers_works(gateway: Gateway) -> None:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model="m", messages=[{"role": "user", "content": "where is my parcel"}]
        )
        rid = raw.headers["x-slipway-request-id"]
        # The feedback endpoint is plain JSON; any HTTP client can send it, the openai one included.
        reply = client.post("/feedback", body={"request_id": rid, "satisfied": True}, cast_to=object)
    assert reply == {"request_id": rid, "accepted": True}
    assert request_record(gateway, rid)["feedback"]["satisfied"] is True


def test_an_unknown_id_is_404_saying_where_ids_come_from(http: httpx.Client) -> None:
    resp = http.post("/v1/feedback", json={"request_id": "no-such-id", "satisfied": True})
    assert resp.status_code == 404
    error = resp.json()["error"]
    assert (error["type"], error["code"]) == ("not_found_error", "unknown_request_id")
    assert "no request with id 'no-such-id'" in error["message"]
    assert "X-Slipway-Request-Id" in error["message"]


RID = "<rid>"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"not json", "feedback body is not valid JSON"),
        (b"", "feedback body is not valid JSON"),
        ([RID], "feedback must be a JSON object like {"),
        ({}, "request_id is required: the X-Slipway-Request-Id header of the response"),
        ({"request_id": 5, "satisfied": True}, "request_id is required"),
        ({"request_id": "", "satisfied": True}, "request_id is required"),
        ({"request_id": RID}, "give at least one of satisfied, label or score"),
        ({"request_id": RID, "satisfied": None, "label": None, "score": None}, "give at least one of"),
        ({"request_id": RID, "satisfied": "yes"}, "satisfied must be true or false"),
        ({"request_id": RID, "satisfied": 1}, "satisfied must be true or false"),
        ({"request_id": RID, "label": 3}, "label must be a string"),
        ({"request_id": RID, "score": "high"}, "score must be a number"),
        ({"request_id": RID, "score": True}, "score must be a number"),
        ({"request_id": RID, "rating": 5}, "unknown feedback field(s): rating; allowed: request_id,"),
    ],
)
def test_a_bad_body_is_400_naming_the_problem_and_stores_nothing(
    gateway: Gateway, http: httpx.Client, body: Any, says: str
) -> None:
    rid = answered(http)
    if isinstance(body, bytes):
        resp = http.post("/v1/feedback", content=body, headers={"content-type": "application/json"})
    else:
        filled = {k: rid if v == RID else v for k, v in body.items()} if isinstance(body, dict) else [rid]
        resp = http.post("/v1/feedback", json=filled)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error" and says in error["message"]
    assert request_record(gateway, rid)["feedback"] is None


def test_a_huge_body_is_413(http: httpx.Client) -> None:
    resp = http.post("/v1/feedback", json={"request_id": "x", "label": "x" * 70_000})
    assert resp.status_code == 413
    assert resp.json()["error"]["message"] == "feedback body is larger than 64 KiB"


def test_feedback_is_post_only(http: httpx.Client) -> None:
    resp = http.get("/v1/feedback")
    assert resp.status_code == 405 and resp.headers["allow"] == "POST"


def test_feedback_while_the_store_is_locked_is_503_asking_to_send_it_again(
    gateway: Gateway, http: httpx.Client
) -> None:
    """Another process holds SQLite's write lock past its busy timeout: the store's trouble, not a 500."""
    request_id = answered(http)
    assert request_record(gateway, request_id)["request"]["request_id"] == request_id
    database = gateway.runtime.settings.resolved_store_url().removeprefix("sqlite:///")
    lock = sqlite3.connect(database, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        resp = http.post("/v1/feedback", json={"request_id": request_id, "label": "billing"}, timeout=120)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "5"
    error = resp.json()["error"]
    assert error["code"] == "store_unavailable"
    assert error["message"].startswith("the feedback was not stored: ")
    assert error["message"].endswith("send it again in a few seconds")
    again = http.post("/v1/feedback", json={"request_id": request_id, "label": "billing"})
    assert again.status_code == 200, again.text
