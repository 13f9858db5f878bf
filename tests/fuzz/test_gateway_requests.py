"""Whatever a client sends to the data plane, slipway answers without a 5xx, keeps serving and records.

Each input goes over a raw socket to a real `slipway serve` whose two backends
never fail: bodies near a valid request and far from one, nested too deep,
cut, not UTF-8; slipway's own headers (category, sticky key, pinned slot)
empty, repeated, huge or full of control bytes; streamed or not; framed by
Content-Length or chunked. See tests/fuzz/live.py for the invariants.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzz.budget import TIMEOUT_S, fuzz_settings
from tests.fuzz.live import Backends, Site, served
from tests.fuzz.strategies import (
    BODIES,
    client_headers,
    dumps,
    header_value,
    request_body,
    single_mutation,
    typed_body,
    typed_headers,
    wire_framing,
)
from tests.fuzz.wire import READ_TIMEOUT_S, Reply, request_bytes, send
from tests.pg import fresh_schema

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT_S)]


@pytest.fixture(scope="module")
def site(data_plane: Site) -> Site:
    return data_plane


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "shadow", "canary"],
)
def any_store_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backends: Backends
) -> Iterator[Site]:
    """The gateway on each store slipway supports (what one stores, the other must store too, or count),
    one mirroring every request to a shadow candidate (the mirror reads every body as well), and one
    in a canary whose checks (every second, on a clock 60 times real time) analyse what was recorded."""
    if request.param == "sqlite":
        yield request.getfixturevalue("site")
        return
    if request.param == "shadow":
        with served(tmp_path_factory.mktemp("fuzz-gateway-shadow"), backends) as s:
            start_shadow(s)
            yield s
            mirror = s.admin("/admin/status")["shadow"]["mirror"]
            assert mirror["pairs"] > 0, f"the shadow run mirrored nothing: {mirror}"
        return
    if request.param == "canary":
        scaled = {"SLIPWAY_CLOCK_SCALE": "60"}
        with served(tmp_path_factory.mktemp("fuzz-gateway-canary"), backends, env=scaled) as s:
            start_canary(s)
            yield s
            status = s.http.get("/admin/canary", headers=s.auth())
            assert status.status_code == 200, status.text
        return
    with (
        fresh_schema(request.getfixturevalue("postgres_url")) as url,
        served(tmp_path_factory.mktemp("fuzz-gateway-pg"), backends, store=url) as s,
    ):
        yield s


def start_shadow(site: Site) -> None:
    """Blue serves everything; every request is copied to green, a shadow candidate."""
    switched = site.http.post("/admin/switch", json={"to": "blue"}, headers=site.auth())
    assert switched.status_code == 200, switched.text
    deploy: dict[str, object] = {
        "version": "v9",
        "strategy": "shadow",
        "slot": "green",
        "endpoint": site.green,
        "kind": "sim",
    }
    deploy |= {"no_smoke": True, "sample": "100%", "until": "1000000-pairs"}
    started = site.http.post("/admin/deploy", json=deploy, headers=site.auth())
    assert started.status_code == 200, started.text
    assert site.admin("/admin/status")["shadow"]["status"] == "running"


def start_canary(site: Site) -> None:
    """Blue serves; green, the candidate, takes a growing share, checked every (scaled) minute."""
    switched = site.http.post("/admin/switch", json={"to": "blue"}, headers=site.auth())
    assert switched.status_code == 200, switched.text
    deploy: dict[str, object] = {
        "version": "v9",
        "strategy": "canary",
        "slot": "green",
        "endpoint": site.green,
        "kind": "sim",
    }
    deploy |= {"no_smoke": True, "steps": "25%:1h,50%:1h,100%", "interval": "1m"}
    started = site.http.post("/admin/deploy", json=deploy, headers=site.auth())
    assert started.status_code == 200, started.text


def host(site: Site) -> bytes:
    return f"127.0.0.1:{site.port}".encode()


@pytest.mark.parametrize("path", list(BODIES))
@fuzz_settings(100)
@given(data=st.data())
def test_any_request_to_a_generate_endpoint_keeps_the_invariants(
    site: Site, path: str, data: st.DataObject
) -> None:
    if data.draw(st.integers(0, 3), label="one hostile part (else any)"):
        body, headers = data.draw(single_mutation(path), label="request")
    else:
        body = data.draw(request_body(path), label="body")
        headers = data.draw(client_headers(), label="headers")
    framing = data.draw(wire_framing(), label="chunked at")
    reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), headers, body, chunks=framing))
    site.check_reply(reply, f"POST {path} ({len(body)} bytes)")


@pytest.mark.parametrize("path", list(BODIES))
@fuzz_settings(40)
@given(data=st.data())
def test_odd_values_in_a_well_typed_request_are_answered_and_recorded(
    any_store_site: Site, path: str, data: st.DataObject
) -> None:
    """Past the gateway's checks: routing, translation, the backend, streaming and the recorder."""
    site = any_store_site
    body = dumps(data.draw(typed_body(path), label="body"))
    headers = data.draw(typed_headers(), label="headers")
    framing = data.draw(wire_framing(), label="chunked at")
    reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), headers, body, chunks=framing))
    site.check_reply(reply, f"POST {path} ({len(body)} bytes)")


@fuzz_settings(15)
@given(
    batch=st.lists(
        st.sampled_from(list(BODIES)).flatmap(
            lambda path: st.tuples(st.just(path), typed_body(path).map(dumps), typed_headers())
        ),
        min_size=2,
        max_size=16,
    )
)
def test_requests_at_once_are_each_answered_recorded_and_open_to_feedback(
    any_store_site: Site, batch: list[tuple[str, bytes, list[tuple[bytes, bytes]]]]
) -> None:
    """Answers, records and feedback race on one event loop; none may be lost to another."""
    site = any_store_site

    def one(request: tuple[str, bytes, list[tuple[bytes, bytes]]]) -> tuple[str, Reply, int | None]:
        path, body, headers = request
        reply = send(site.url, request_bytes(b"POST", path.encode(), host(site), headers, body))
        request_id = reply.header("x-slipway-request-id")
        if reply.status != 200 or request_id is None:
            return path, reply, None
        # Feedback right after the answer, perhaps before its record is written: never a false 404.
        feedback = send(
            site.url,
            request_bytes(
                b"POST",
                b"/v1/feedback",
                host(site),
                [(b"content-type", b"application/json")],
                dumps({"request_id": request_id, "satisfied": True, "label": "billing"}),
            ),
        )
        return path, reply, feedback.status

    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        results = list(pool.map(one, batch))
    for path, reply, feedback in results:
        site.check_reply(reply, f"POST {path} (one of {len(batch)} at once)")
        if feedback is not None:
            assert feedback == 200, f"feedback for a request just answered on {path} -> {feedback}"


@fuzz_settings(40)
@given(
    data=st.data(),
    path=st.sampled_from(list(BODIES)),
    pinned=st.sampled_from([b"slow", b"slow", b"blue", None]),
    cut=st.one_of(st.integers(0, 400), st.integers(400, 3000)),
    reset=st.booleans(),
)
def test_a_client_that_leaves_mid_answer_is_recorded_and_nothing_else_breaks(
    site: Site, data: st.DataObject, path: str, pinned: bytes | None, cut: int, reset: bool
) -> None:
    """The client reads `cut` bytes of the answer, then closes (or resets) the connection."""
    body = data.draw(typed_body(path), label="body")
    body["stream"] = data.draw(st.booleans(), label="stream")
    headers = [(b"content-type", b"application/json")] + ([(b"x-slipway-slot", pinned)] if pinned else [])
    raw = request_bytes(b"POST", path.encode(), host(site), headers, dumps(body))
    got = leave_after(site.url, raw, cut, reset=reset)
    head, complete, _ = got.partition(b"\r\n\r\n")
    request_id = None
    if complete:  # a cut inside the headers may leave half an id: only whole headers count
        status = int(head.split(b" ", 2)[1])
        assert status < 500, got[:1000]
        request_id = next(
            (
                line.split(b":", 1)[1].strip().decode()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"x-slipway-request-id:")
            ),
            None,
        )
    if request_id is not None:
        # The gateway sees the disconnect only at its next write: give the stream time to notice.
        site.check_recorded([request_id], f"POST {path}, left after {cut} bytes", wait_s=10.0)
    site.alive(f"after a client left POST {path} after {cut} bytes")
    logged = site.new_log()
    assert "Traceback" not in logged, logged[-4000:]


def leave_after(base_url: str, raw: bytes, cut: int, *, reset: bool) -> bytes:
    """Send `raw`, read at most `cut` bytes of the answer, then close; RST instead of FIN if `reset`."""
    where = urlsplit(base_url)
    assert where.hostname is not None and where.port is not None
    got = b""
    with socket.create_connection((where.hostname, where.port), timeout=READ_TIMEOUT_S) as sock:
        sock.sendall(raw)
        while len(got) < cut:
            chunk = sock.recv(min(4096, cut - len(got)))
            if not chunk:
                break
            got += chunk
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return got


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


@fuzz_settings(100)
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


def _framings(path: bytes, host: bytes, body: bytes) -> list[bytes]:
    """Requests whose framing is ambiguous or broken: what request smuggling and old clients send."""
    n = str(len(body)).encode()
    start = b"POST " + path + b" HTTP/1.1\r\nhost: " + host + b"\r\ncontent-type: application/json\r\n"
    chunked = hex(len(body))[2:].encode() + b"\r\n" + body + b"\r\n0\r\n\r\n"
    return [
        start + b"content-length: " + n + b"\r\ncontent-length: " + str(len(body) + 5).encode()
        + b"\r\n\r\n" + body,
        start + b"content-length: " + n + b"\r\ntransfer-encoding: chunked\r\n\r\n" + chunked,
        start + b"transfer-encoding: chunked\r\n\r\nzz\r\n" + body + b"\r\n0\r\n\r\n",
        start + b"transfer-encoding: gzip, chunked\r\n\r\n" + chunked,
        start + b"transfer-encoding: chunked, identity\r\n\r\n" + chunked,
        start + b"content-length: -1\r\n\r\n" + body,
        start + b"content-length: 1\r\n\r\n" + body,
        start + b"content-length: +" + n + b"\r\n\r\n" + body,
        start + b"content-length: " + n + b"\r\n x-folded: yes\r\n\r\n" + body,
        b"POST " + path + b" HTTP/1.0\r\ncontent-length: " + n + b"\r\n\r\n" + body,
        b"POST " + path + b" HTTP/2.0\r\nhost: " + host + b"\r\ncontent-length: " + n + b"\r\n\r\n" + body,
        b"POST http://evil.example" + path + b" HTTP/1.1\r\nhost: " + host + b"\r\ncontent-length: " + n
        + b"\r\n\r\n" + body,
        b"POST " + path + b" HTTP/1.1\r\nhost: " + host + b"\r\nhost: evil.example\r\ncontent-length: " + n
        + b"\r\n\r\n" + body,
        b"POST " + path + b"\x00 HTTP/1.1\r\nhost: " + host + b"\r\ncontent-length: " + n
        + b"\r\n\r\n" + body,
    ]  # fmt: skip


@fuzz_settings(60)
@given(path=st.sampled_from(list(BODIES)), variant=st.integers(0, 13), stream=st.booleans())
def test_ambiguous_framing_is_refused_or_answered_never_a_5xx(
    site: Site, path: str, variant: int, stream: bool
) -> None:
    body = b'{"model": "m", "prompt": "refund", "messages": [{"role": "user", "content": "refund"}]'
    body += b', "stream": true}' if stream else b"}"
    raw = _framings(path.encode(), host(site), body)[variant]
    reply = send(site.url, raw)
    site.check_reply(reply, f"framing variant {variant}: {raw[:300]!r}")
