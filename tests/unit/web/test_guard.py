"""The admin guard's reading of Host and Origin, on the cases a live test does not reach easily.

IPv6 literals, a page served over https by a proxy that ends TLS (the server
sees http), names with a trailing dot or in capitals, and what an operator may
write in `gateway.allowed_hosts`. The guard is called as ASGI with a stand-in
admin app, so each case shows only whether the request got through.
"""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import pytest

from slipway.core.hosts import host_name_problem, split_host
from slipway.web.auth import TokenGuard
from slipway.web.guard import AdminGuard, HostPolicy


def call(hosts: HostPolicy, method: str, headers: dict[str, str]) -> int:
    """The status the guard answered with, or 200 from the stand-in admin app behind it."""
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http",
        "method": method,
        "path": "/admin/rollback",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "server": ("127.0.0.1", 8080),
    }

    async def app(_scope: Any, _receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    asyncio.run(AdminGuard(app, TokenGuard(None), hosts)(scope, receive, send))
    return int(sent[0]["status"])


def policy(bind: str = "127.0.0.1", allowed: tuple[str, ...] = ()) -> HostPolicy:
    return HostPolicy(bind, lambda: allowed)


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("host", "origin"),
    [
        ("[::1]:8080", "http://[::1]:8080"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("LOCALHOST.:8080", "http://localhost:8080"),
        ("slipway.example", "https://slipway.example"),
        ("slipway.example:443", "https://slipway.example"),
        ("slipway.example", "http://slipway.example:80"),
    ],
    ids=["ipv6", "ipv4", "case-and-dot", "https-behind-a-proxy", "https-port-given", "http-port-given"],
)
def test_a_page_of_this_servers_own_origin_may_make_changes(host: str, origin: str) -> None:
    hosts = policy(allowed=("slipway.example",))
    assert call(hosts, "POST", {"host": host, "origin": origin, **JSON}) == 200


@pytest.mark.parametrize(
    ("host", "origin", "status"),
    [
        ("[::1]:8080", "http://[::1]:9090", 403),
        ("slipway.example", "https://slipway.example:8443", 403),
        ("slipway.example", "http://slipway.example.evil.example", 403),
        ("slipway.example", "http://slipway.example/some/path", 403),
        ("slipway.example", "file://", 403),
        ("slipway.example", "http://user@slipway.example@evil.example", 403),
        ("evil.example", "http://evil.example", 400),
        ("slipway.example@evil.example", "http://slipway.example", 400),
        ("slipway.example:99999", "http://slipway.example", 400),
        ("", "http://slipway.example", 400),
    ],
)
def test_anything_else_is_refused(host: str, origin: str, status: int) -> None:
    hosts = policy(allowed=("slipway.example",))
    assert call(hosts, "POST", {"host": host, "origin": origin, **JSON}) == status


@pytest.mark.parametrize("host", ["10.1.2.3:8080", "[2001:db8::1]", "gateway.internal:8080"])
def test_ip_addresses_and_the_bind_name_need_no_list(host: str) -> None:
    assert call(policy(bind="gateway.internal"), "GET", {"host": host}) == 200


def test_a_bind_address_of_all_interfaces_adds_no_name() -> None:
    assert policy(bind="0.0.0.0").names() == ["localhost"]
    assert policy(bind="::").names() == ["localhost"]


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("Example.COM.:80", ("example.com", 80)),
        ("[::1]", ("::1", None)),
        ("a@b", None),
        ("x:0", None),
        ("x:", None),
        ("x y", None),
    ],
)
def test_host_headers_are_read_as_name_and_port(value: str, parsed: tuple[str, int | None] | None) -> None:
    assert split_host(value) == parsed


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ("https://slipway.example", "is a URL"),
        ("slipway.example/", "is a URL"),
        ("slipway.example:8080", "has a port"),
        ("slip way", "is not a host name"),
        ("", "is not a host name"),
        ("-slipway.example", "is not a host name"),
    ],
)
def test_allowed_hosts_entries_are_bare_names(entry: str, says: str) -> None:
    problem = host_name_problem(entry)
    assert problem is not None and says in problem


@pytest.mark.parametrize("entry", ["slipway.example", "Slipway.Example.", "10.0.0.1", "::1", "[::1]", "lb_1"])
def test_names_and_addresses_are_good_entries(entry: str) -> None:
    assert host_name_problem(entry) is None
