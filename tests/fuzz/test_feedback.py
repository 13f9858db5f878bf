"""Whatever is posted to `/v1/feedback`, slipway answers without a 5xx, keeps serving, and takes
feedback only for requests it answered.

Feedback decides canaries (a ground-truth label per request), so a body that
crashed the handler, or attached a label to an id slipway never handed out,
would poison exactly the numbers a rollback is decided on.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz.budget import TIMEOUT_S, fuzz_settings
from tests.fuzz.live import Site
from tests.fuzz.strategies import (
    CONTENT_TYPES,
    _present,
    dumps,
    json_values,
    long_text,
    mangled,
    maybe,
    numbers,
    strings,
)
from tests.fuzz.wire import request_bytes, send

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT_S)]


@pytest.fixture(scope="module")
def site(data_plane: Site) -> Site:
    return data_plane


@pytest.fixture(scope="module")
def answered(site: Site) -> list[str]:
    """Ids of requests this gateway answered (and recorded), for feedback to name."""
    ids = []
    for path, body in [
        ("/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "refund"}]}),
        ("/v1/completions", {"model": "m", "prompt": "parcel", "stream": True}),
        ("/api/chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": False}),
        ("/api/generate", {"model": "m", "prompt": "invoice"}),
    ]:
        resp = site.http.post(path, json=body)
        assert resp.status_code == 200, resp.text
        ids.append(resp.headers["x-slipway-request-id"])
    site.check_recorded(ids, "the setup requests")
    return ids


def feedback_body(ids: list[str]) -> st.SearchStrategy[bytes]:
    request_id = st.one_of(
        st.sampled_from(ids),
        st.sampled_from(ids).map(lambda i: i.upper()),
        st.sampled_from(ids).map(lambda i: i + " "),
        strings,
        long_text(),
        json_values,
    )
    near = st.fixed_dictionaries(
        {
            "request_id": maybe(request_id),
            "satisfied": maybe(st.one_of(st.booleans(), json_values)),
            "label": maybe(st.one_of(strings, strings, json_values)),
            "score": maybe(st.one_of(numbers, json_values)),
            "extra": maybe(json_values),
        }
    ).map(_present)
    typed = st.fixed_dictionaries(
        {
            "request_id": st.sampled_from(ids),
            "satisfied": st.booleans(),
            "label": maybe(strings),
            "score": maybe(st.floats(allow_nan=False, allow_infinity=False)),
        }
    ).map(_present)
    return st.one_of(
        typed.map(dumps),
        typed.map(dumps),
        near.map(dumps),
        near.map(dumps),
        near.map(dumps).flatmap(mangled),
        json_values.map(dumps),
        st.binary(max_size=64),
        st.sampled_from([b'{"request_id": "x", "score": NaN}', b'{"request_id": "x", "score": 1e999}']),
    )


@fuzz_settings(250)
@given(data=st.data())
def test_any_feedback_keeps_the_invariants(site: Site, answered: list[str], data: st.DataObject) -> None:
    body = data.draw(feedback_body(answered), label="body")
    content_type = data.draw(st.sampled_from(CONTENT_TYPES), label="content-type")
    headers = [(b"content-type", content_type)] if content_type is not None else []
    reply = send(
        site.url,
        request_bytes(b"POST", b"/v1/feedback", f"127.0.0.1:{site.port}".encode(), headers, body),
    )
    site.check_reply(reply, f"POST /v1/feedback {body[:200]!r}")
    if reply.status == 200:
        sent: Any = json.loads(body)
        assert sent["request_id"] in answered, (
            f"feedback accepted for an id slipway never gave: {body[:200]!r}"
        )
