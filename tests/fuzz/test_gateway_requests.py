"""Whatever a client sends to the data plane, slipway answers without a 5xx, keeps serving and records.

Each input goes over a raw socket to a real `slipway serve` whose two backends
never fail: bodies near a valid request and far from one, nested too deep,
cut, not UTF-8; slipway's own headers (category, sticky key, pinned slot)
empty, repeated, huge or full of control bytes; streamed or not; framed by
Content-Length or chunked. See tests/fuzz/live.py for the invariants.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz.budget import TIMEOUT_S, fuzz_settings
from tests.fuzz.live import Site, served
from tests.fuzz.strategies import (
    BODIES,
    client_headers,
    dumps,
    header_value,
    request_body,
    typed_body,
    typed_headers,
    wire_framing,
)
from tests.fuzz.wire import request_bytes, send

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT_S)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, backends: tuple[str, str]) -> Iterator[Site]:
    with served(tmp_path_factory.mktemp("fuzz-gateway"), *backends) as s:
        yield s


def host(site: Site) -> bytes:
    return f"127.0.0.1:{site.port}".encode()


@pytest.mark.parametrize("path", list(BODIES))
@fuzz_settings(120)
@given(data=st.data())
def test_any_request_to_a_generate_endpoint_keeps_the_invariants(
    site: Site, path: str, data: st.DataObject
) -> None:
    body = data.draw(request_body(path), label="body")
    headers = data.draw(client_headers(), label="headers")
    framing = data.draw(wire_framing(), label="chunked at")
    reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), headers, body, chunks=framing))
    site.check_reply(reply, f"POST {path} ({len(body)} bytes)")


@pytest.mark.parametrize("path", list(BODIES))
@fuzz_settings(60)
@given(data=st.data())
def test_odd_values_in_a_well_typed_request_are_answered_and_recorded(
    site: Site, path: str, data: st.DataObject
) -> None:
    """Past the gateway's checks: routing, translation, the backend, streaming and the recorder."""
    body = dumps(data.draw(typed_body(path), label="body"))
    headers = data.draw(typed_headers(), label="headers")
    framing = data.draw(wire_framing(), label="chunked at")
    reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), headers, body, chunks=framing))
    site.check_reply(reply, f"POST {path} ({len(body)} bytes)")


#: The data plane's other routes, and near misses of every route (trailing slash, case, encoding).
OTHER_TARGETS = [
    (b"GET", b"/v1/models"), (b"GET", b"/api/tags"), (b"GET", b"/api/version"), (b"GET", b"/api/ps"),
    (b"POST", b"/api/show"), (b"GET", b"/v1/models/customer-support"), (b"GET", b"/v1/models/%00"),
    (b"GET", b"/v1/models/..%2f..%2fadmin%2fstatus"), (b"POST", b"/v1/chat/completions/"),
    (b"POST", b"/V1/CHAT/COMPLETIONS"), (b"POST", b"//v1/chat/completions"),
    (b"GET", b"/v1/chat/completions"),
    (b"PUT", b"/api/generate"), (b"DELETE", b"/v1/feedback"), (b"OPTIONS", b"/v1/completions"),
    (b"HEAD", b"/v1/models"), (b"POST", b"/v1/completions?stream=true&x=%ff"), (b"POST", b"/api/chat#frag"),
    (b"PATCH", b"/api/chat"), (b"POST", b"/v1/models/" + b"x" * 5000),
]  # fmt: skip


@fuzz_settings(120)
@given(
    target=st.sampled_from(OTHER_TARGETS),
    headers=client_headers(),
    body=st.one_of(st.just(b""), request_body("/v1/completions")),
)
def test_other_routes_and_near_misses_keep_the_invariants(
    site: Site, target: tuple[bytes, bytes], headers: list[tuple[bytes, bytes]], body: bytes
) -> None:
    method, path = target
    reply = send(site.url, request_bytes(method, path, host(site), headers, body))
    site.check_reply(reply, f"{method.decode()} {path[:80].decode()}")


@fuzz_settings(80)
@given(
    path=st.sampled_from(list(BODIES)),
    name=st.sampled_from([b"x-slipway-category", b"x-slipway-key", b"x-slipway-slot", b"content-type"]),
    value=st.one_of(
        header_value(),
        st.sampled_from([b"a\r\nx-injected: 1", b"a\rb", b"a\nb", b"a\x00b", b"\r\n\r\nGET / HTTP/1.1"]),
    ),
    stream=st.booleans(),
)
def test_a_header_that_breaks_http_itself_is_refused_and_nothing_else_breaks(
    site: Site, path: str, name: bytes, value: bytes, stream: bool
) -> None:
    """Line breaks and NUL inside a header: the HTTP parser's 400, never a split header or a 5xx."""
    body = (
        b'{"model": "m", "prompt": "refund", "messages": [{"role": "user", "content": "refund"}], "stream": '
    )
    body += b"true}" if stream else b"false}"
    reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), [(name, value)], body))
    site.check_reply(reply, f"POST {path} with {name.decode()}: {value[:60]!r}")
    assert "x-injected" not in reply.headers
