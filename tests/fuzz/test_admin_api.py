"""Every admin operation, fuzzed from the OpenAPI document the server itself serves, by every kind of caller.

schemathesis turns `/openapi.json` into requests that fit each operation's
schema and requests that break it (wrong types, missing fields, odd path and
query values, raw bytes as the body); each goes out with a caller's headers
(token or a near miss, this server's Host or a rebound one, a same-origin or
cross-origin page, JSON or a form). Whatever arrives:

- no 5xx, the process keeps serving, no traceback in its log;
- the route (version, active slot, history) moves only for a request with the
  valid token that is not from another origin.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.schemas import BaseSchema
from tests.faults import refusing_endpoint
from tests.fuzz.budget import TIMEOUT_S, fuzz_settings
from tests.fuzz.callers import Caller, callers, probing_callers
from tests.fuzz.live import TOKEN, Backends, Finding, Site, served
from tests.fuzz.strategies import header_value, odd_text
from tests.fuzz.wire import Reply, request_bytes, send

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(TIMEOUT_S)]

#: The operations in the admin API's OpenAPI document (a test below keeps this list complete).
OPERATIONS = [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/admin/status"), ("GET", "/metrics"),
    ("GET", "/admin/history"), ("POST", "/admin/rollback"), ("POST", "/admin/adapters/rollback"),
    ("POST", "/admin/switch"), ("POST", "/admin/reload"), ("GET", "/admin/config"), ("POST", "/admin/deploy"),
    ("GET", "/admin/canary"), ("POST", "/admin/canary/pause"), ("POST", "/admin/canary/resume"),
    ("POST", "/admin/canary/promote"), ("POST", "/admin/canary/abort"), ("GET", "/admin/shadow"),
    ("GET", "/admin/shadow/report"), ("GET", "/admin/shadow/export"), ("POST", "/admin/shadow/stop"),
    ("POST", "/admin/shadow/promote"), ("GET", "/admin/requests/{request_id}"), ("GET", "/admin/deployments"),
    ("GET", "/admin/notifications"), ("POST", "/admin/notify/test"), ("GET", "/admin/notify/summary"),
    ("POST", "/admin/notify/summary"), ("POST", "/admin/slots/{slot}/unload"),
    ("POST", "/admin/slots/{slot}/load"), ("GET", "/admin/postmortem"),
    ("GET", "/admin/postmortem/{deployment_id}"), ("POST", "/admin/postmortem/{deployment_id}/retry"),
    ("POST", "/admin/regressions"),
    ("GET", "/admin/regressions/export"), ("GET", "/admin/evals/suites"),
    ("GET", "/admin/evals/suites/{name}"), ("POST", "/admin/evals/suites/{name}"),
    ("POST", "/admin/evals/run"), ("GET", "/admin/evals/runs"), ("GET", "/admin/evals/runs/{run_id}"),
    ("POST", "/admin/checklist"), ("GET", "/admin/checklists"),
    ("POST", "/admin/drill"), ("GET", "/admin/drills"),
]  # fmt: skip
#: Served beside the API but not in its document.
PAGES = ["/dashboard", "/openapi.json", "/docs", "/redoc", "/admin", "/admin/", "/admin/nope", "/favicon.ico"]
#: schemathesis's own bookkeeping headers, and the ones each caller decides.
_DROPPED = {"user-agent", "accept-encoding", "accept", "connection", "x-schemathesis-testcaseid",
            "authorization", "content-type", "host", "content-length"}  # fmt: skip


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, backends: Backends) -> Iterator[Site]:
    with served(tmp_path_factory.mktemp("fuzz-admin"), backends) as s:
        yield s


@pytest.fixture(scope="module")
def schema(site: Site) -> BaseSchema:
    return schemathesis.openapi.from_dict(site.admin("/openapi.json"))


@pytest.fixture(scope="module")
def dead_endpoint() -> Iterator[str]:
    with refusing_endpoint() as url:
        yield url


def test_the_fuzzed_operations_are_all_the_documented_ones(site: Site) -> None:
    document = site.admin("/openapi.json")
    served_ops = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert served_ops == set(OPERATIONS)


def case_request(
    case: Any, site: Site, caller: Caller, endpoints: list[str]
) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    """(method, target, headers, body) for a schemathesis case as `caller` sends it.

    A deploy's endpoint is replaced by one of `endpoints` (the healthy sims, a
    refused port): a fuzzer must not make slipway probe arbitrary hosts.
    """
    kwargs = case.as_transport_kwargs(base_url=site.url)
    split = urlsplit(kwargs["url"])
    target = split.path or "/"
    params = kwargs.get("params") or {}
    if params:
        target += "?" + urlencode(params, doseq=True)
    body: bytes = b""
    if "json" in kwargs:
        value = kwargs["json"]
        if isinstance(value, dict) and isinstance(value.get("endpoint"), str):
            value = {**value, "endpoint": endpoints[len(value["endpoint"]) % len(endpoints)]}
        body = json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body = data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogatepass")
    headers = [
        (str(k).encode("utf-8", "surrogatepass"), str(v).encode("utf-8", "surrogatepass"))
        for k, v in (kwargs.get("headers") or {}).items()
        if str(k).lower() not in _DROPPED
    ]
    return kwargs["method"].encode(), target.encode(), [*headers, *caller.headers(site)], body


def describe(method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> str:
    shown = ", ".join(f"{k.decode()}: {v[:80]!r}" for k, v in headers)
    return f"{method.decode()} {target[:200].decode(errors='replace')} [{shown}] body={body[:300]!r}"


def reset_route(site: Site) -> None:
    """Green active, blue before it (the rollback target), nothing running: every example starts here,
    so one that moves the route moves it again when Hypothesis replays it."""
    calm(site)
    for slot in ("blue", "green"):
        resp = site.http.post("/admin/switch", json={"to": slot, "reason": "fuzz reset"}, headers=site.auth())
        if resp.status_code not in (200, 409):  # 409: already active (in older versions)
            raise Finding(f"switch to {slot} (the operator's way) -> {resp.status_code}: {resp.text[:500]}")


def calm(site: Site) -> None:
    """End any canary or shadow run a legitimate request started, so nothing moves routes on its own."""
    for path in ("/admin/canary/abort", "/admin/shadow/stop"):
        resp = site.http.post(path, json={}, headers=site.auth())
        if resp.status_code >= 500:
            raise Finding(f"POST {path} (the operator's way) -> {resp.status_code}: {resp.text[:500]}")


def operation_request(
    data: st.DataObject, schema: BaseSchema, site: Site, dead: str, operation: tuple[str, str], caller: Caller
) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    method, path = operation
    mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]), label="mode")
    case = data.draw(schema[path][method].as_strategy(generation_mode=mode), label="case")
    return case_request(case, site, caller, [site.blue, site.green, dead])


@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@fuzz_settings(20)
@given(data=st.data())
def test_any_admin_request_keeps_the_invariants(
    site: Site, schema: BaseSchema, dead_endpoint: str, operation: tuple[str, str], data: st.DataObject
) -> None:
    caller = data.draw(callers(legitimate_weight=2), label="caller")
    method, target, headers, body = operation_request(data, schema, site, dead_endpoint, operation, caller)
    host = caller.host_header(site)
    assert host is not None
    before = site.route()
    reply = send(site.url, request_bytes(method, target, host, headers, body))
    what = describe(method, target, [(b"host", host), *headers], body)
    site.check_reply(reply, what)
    after = site.route()
    check_route_change(site, caller, before, after, reply, what)


def check_route_change(
    site: Site,
    caller: Caller,
    before: tuple[int, str, int],
    after: tuple[int, str, int],
    reply: Reply,
    what: str,
) -> None:
    if after == before:
        return
    legitimate = caller.authorized(site) and caller.same_origin is not False
    if not legitimate:
        raise Finding(
            f"the route moved from {before} to {after} (version, active, changes) on {what} -> "
            f"{reply.status}: {reply.text()}"
        )
    calm(site)


#: Every change the admin API offers, with bodies likely to move traffic if the caller may.
CHANGES: list[tuple[bytes, Any]] = [
    (b"/admin/rollback", None), (b"/admin/rollback", {}), (b"/admin/rollback", {"to": "blue"}),
    (b"/admin/rollback", {"to": "green", "force": True}), (b"/admin/switch", {"to": "green"}),
    (b"/admin/switch", {"to": "blue", "reason": "fuzz"}), (b"/admin/switch", {"to": "green", "force": True}),
    (b"/admin/reload", None), (b"/admin/reload", {"force": True}), (b"/admin/adapters/rollback", {}),
    (b"/admin/deploy", {"version": "v9", "endpoint": "{green}", "kind": "sim", "no_smoke": True}),
    (b"/admin/deploy", {"version": "v9", "endpoint": "{blue}", "kind": "sim", "no_smoke": True,
                        "slot": "green"}),
    (b"/admin/deploy", {"version": "v9", "endpoint": "{green}", "kind": "sim", "no_smoke": True,
                        "strategy": "canary", "steps": "50%:1h,100%"}),
    (b"/admin/canary/promote", {}), (b"/admin/canary/abort", {}),
    (b"/admin/shadow/promote", {"via": "bluegreen"}), (b"/admin/drill", {"requests": 1}),
]  # fmt: skip


@fuzz_settings(100)
@given(data=st.data())
def test_no_route_change_without_the_token_and_this_servers_origin(site: Site, data: st.DataObject) -> None:
    """A web page, a rebound DNS name or a wrong token never moves traffic, whatever it sends."""
    reset_route(site)
    path, template = data.draw(st.sampled_from(CHANGES), label="change")
    caller = data.draw(probing_callers(), label="caller")
    body = b""
    if template is not None:
        text = json.dumps(template).replace("{green}", site.green).replace("{blue}", site.blue)
        body = text.encode()
    actor = data.draw(st.one_of(st.none(), st.none(), st.none(), header_value()), label="x-slipway-actor")
    headers = caller.headers(site) + ([(b"x-slipway-actor", actor)] if actor is not None else [])
    host = caller.host_header(site)
    assert host is not None
    before = site.route()
    reply = send(site.url, request_bytes(b"POST", path, host, headers, body))
    what = describe(b"POST", path, [(b"host", host), *headers], body)
    site.check_reply(reply, what)
    check_route_change(site, caller, before, site.route(), reply, what)


@fuzz_settings(80)
@given(
    path=st.sampled_from(PAGES),
    method=st.sampled_from([b"GET", b"POST", b"HEAD", b"PUT", b"DELETE"]),
    caller=callers(),
    body=st.one_of(st.just(b""), odd_text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
)
def test_pages_beside_the_api_keep_the_invariants(
    site: Site, path: str, method: bytes, caller: Caller, body: bytes
) -> None:
    host = caller.host_header(site)
    assert host is not None
    before = site.route()
    headers = caller.headers(site)
    reply = send(site.url, request_bytes(method, path.encode(), host, headers, body))
    what = describe(method, path.encode(), [(b"host", host), *headers], body)
    site.check_reply(reply, what)
    check_route_change(site, caller, before, site.route(), reply, what)


@pytest.fixture(scope="module")
def open_site(tmp_path_factory: pytest.TempPathFactory, backends: Backends) -> Iterator[Site]:
    """slipway on loopback without a token: the only guard left is the origin check."""
    with served(tmp_path_factory.mktemp("fuzz-admin-open"), backends, token=None) as s:
        yield s


@fuzz_settings(60)
@given(data=st.data())
def test_without_a_token_no_web_page_moves_traffic(open_site: Site, data: st.DataObject) -> None:
    reset_route(open_site)
    path, template = data.draw(st.sampled_from(CHANGES), label="change")
    caller = data.draw(probing_callers(), label="caller")
    body = b""
    if template is not None:
        text = json.dumps(template).replace("{green}", open_site.green).replace("{blue}", open_site.blue)
        body = text.encode()
    host = caller.host_header(open_site)
    assert host is not None
    headers = caller.headers(open_site)
    before = open_site.route()
    reply = send(open_site.url, request_bytes(b"POST", path, host, headers, body))
    what = describe(b"POST", path, [(b"host", host), *headers], body)
    open_site.check_reply(reply, what)
    check_route_change(open_site, caller, before, open_site.route(), reply, what)


assert TOKEN  # the site's token is what `valid` callers send
