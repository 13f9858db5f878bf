"""The checks in front of the admin API and the dashboard, made before a request's body is read.

Pure ASGI in front of the FastAPI admin app, because FastAPI reads and parses
a body before its dependencies run: with the token checked there, anyone
could make the process buffer a 400 MiB upload just to be told 401. Here a
refusal goes out as soon as the headers are in, and the body stays unread.

The other checks are about browsers, and apply with or without a token. Any
page open in a browser on the operator's machine can send requests to
127.0.0.1 (a cross-site request), or point its own DNS name at 127.0.0.1 once
it has loaded (DNS rebinding: its requests are then same-origin to the
browser, and it may read the answers). So:

- the Host header must name this server (stops rebinding, reads included);
- a change (any method but GET, HEAD, OPTIONS) must not come from another
  origin (Origin, Sec-Fetch-Site);
- a change must say `Content-Type: application/json`, which a page can only
  send to another origin after asking it first (CORS), and slipway never says
  yes.

The data plane (/v1, /api) is not behind this: servers and SDKs call it, and
it moves no traffic. docs/security.md has the threat model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import orjson

from slipway.core.hosts import is_ip, normal_name, split_host
from slipway.gateway.asgi import JSON_HEADERS, Message, Receive, Scope, Send, send_bytes
from slipway.web.auth import TokenGuard

#: Largest admin request body. A deploy carries its smoke cases (10-20 prompts, a few KiB) in its body;
#: even 20 prompts of 30,000 characters fit. Chat bodies have their own, larger limit.
ADMIN_MAX_BODY_BYTES = 1024 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Probers send whatever Host they like (a pod IP, a target group's name) and learn nothing secret.
PROBES = frozenset({"/healthz", "/readyz"})
#: Added to every answer from behind the guard: not to be framed, sniffed or embedded by other origins.
RESPONSE_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_DEFAULT_PORTS = {"http": 80, "https": 443}
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
_SETTING = "gateway.allowed_hosts in the config, or `slipway serve --allowed-host NAME`"


def _needs_token(path: str) -> bool:
    return path == "/metrics" or path == "/admin" or path.startswith("/admin/")


class HostPolicy:
    """Which names in a Host header are this server's: `localhost`, any IP address, the bind name, the list.

    An IP address cannot be rebound: a browser sends one only when the page's
    own address is that IP and port. A DNS name can be: the page's author
    controls what it resolves to. So names are accepted only if the operator
    gave them: the `--host` it was started with, and `allowed`, read per
    request so that a reloaded config applies at once.
    """

    def __init__(self, bind_host: str, allowed: Callable[[], Iterable[str]] = tuple) -> None:
        self._bind = normal_name(bind_host)
        self._allowed = allowed

    def names(self) -> list[str]:
        names = ["localhost"]
        if self._bind and not is_ip(self._bind) and self._bind not in names:
            names.append(self._bind)
        for name in map(normal_name, self._allowed()):
            if name not in names:
                names.append(name)
        return names

    def allows(self, name: str) -> bool:
        return is_ip(name) or name in self.names()


class AdminGuard:
    """Wraps the admin ASGI app: Host, then origin, then token, then content type and size."""

    def __init__(
        self,
        app: ASGIApp,
        token: TokenGuard,
        hosts: HostPolicy,
        *,
        max_body_bytes: int = ADMIN_MAX_BODY_BYTES,
    ) -> None:
        self._app = app
        self._token = token
        self._hosts = hosts
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self._app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = _headers(scope)
        host = headers.get("host")
        refusal = self._host_refusal(host)
        change = scope["method"] not in SAFE_METHODS
        if refusal is None and change:
            refusal = _origin_refusal(scope, headers)
        if refusal is not None:
            await _refuse(send, *refusal)
            return
        if _needs_token(scope["path"]):
            problem = self._token.refusal(headers.get("authorization"))
            if problem is not None:
                await _send_json(send, 401, {"detail": problem}, [(b"www-authenticate", b"Bearer")])
                return
        if change:
            refusal = _content_type_refusal(headers.get("content-type"))
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        if "content-length" in headers or "transfer-encoding" in headers:
            body = await self._read_body(headers.get("content-length"), receive, send)
            if body is None:
                return
            receive = _replay(body, receive)
        await self._app(scope, receive, send)

    def _host_refusal(self, host: str | None) -> tuple[int, str, str, str] | None:
        if host is None:
            return None  # HTTP/1.0 without Host: no browser sends that, so nothing was rebound
        parsed = split_host(host)
        if parsed is not None and self._hosts.allows(parsed[0]):
            return None
        names = ", ".join(self._hosts.names())
        return (
            400,
            "host_not_allowed",
            f"the Host header {host!r} does not name this server. The admin API and the dashboard "
            f"answer only to {names} and IP addresses, so that a web page cannot reach them through a "
            "DNS name it controls (DNS rebinding)",
            f"call this server by one of those names, or add the name your clients use to {_SETTING}",
        )

    async def _read_body(self, length: str | None, receive: Receive, send: Send) -> bytes | None:
        """The whole body, at most the admin limit; None once a refusal was sent or the client left."""
        if length is not None and length.isdigit() and int(length) > self._max_body:
            await _too_large(send, int(length), self._max_body)
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                await _too_large(send, None, self._max_body)
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _headers(scope: Scope) -> dict[str, str]:
    """The first value of each request header, decoded as HTTP headers are (latin-1)."""
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


def _own_origin(scope: Scope, headers: dict[str, str]) -> tuple[str, int | None] | None:
    host = headers.get("host")
    if host is not None:
        return split_host(host)
    server = scope.get("server")
    return (normal_name(str(server[0])), int(server[1])) if server else None


def _origin_refusal(scope: Scope, headers: dict[str, str]) -> tuple[int, str, str, str] | None:
    hint = (
        "send changes from the CLI, curl or a script (they send no Origin), or from the dashboard "
        "served by this server; behind a proxy, pass the Host header through unchanged "
        "(nginx: proxy_set_header Host $host)"
    )
    fetch_site = headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site in ("cross-site", "same-site"):
        return (
            403,
            "cross_origin_request",
            f"the browser says this change comes from a page on another site (Sec-Fetch-Site: {fetch_site}); "
            "admin changes are accepted only from this server's own pages, so that a web page "
            "cannot move traffic",
            hint,
        )
    origin = headers.get("origin")
    if origin is None or _same_origin(origin, _own_origin(scope, headers)):
        return None
    return (
        403,
        "cross_origin_request",
        f"this change was sent from another origin ({origin}); admin changes are accepted only from "
        "this server's own pages, so that a web page cannot move traffic",
        hint,
    )


def _same_origin(origin: str, own: tuple[str, int | None] | None) -> bool:
    """Whether `origin` is scheme://host[:port] of this server as the Host header names it.

    The scheme is not compared: behind a proxy that ends TLS the server sees
    http while the page is https. A Host without a port means the default
    port of the page's scheme.
    """
    if own is None or origin.strip().lower() == "null":
        return False
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
        return False
    default = _DEFAULT_PORTS[parts.scheme]
    own_name, own_port = own
    return normal_name(parts.hostname) == own_name and (port or default) == (own_port or default)


def _content_type_refusal(content_type: str | None) -> tuple[int, str, str, str] | None:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media == "application/json":
        return None
    sent = f"Content-Type: {content_type}" if content_type else "no Content-Type"
    return (
        415,
        "json_required",
        f"admin changes must be sent with Content-Type: application/json, even without a body; this "
        f"request had {sent}. Web pages can send forms and text/plain to any server without asking it "
        "first, so those are refused",
        "add the header 'Content-Type: application/json' (curl: -H 'Content-Type: application/json'); "
        "the CLI and the dashboard send it",
    )


async def _refuse(send: Send, status: int, code: str, message: str, hint: str) -> None:
    await _send_json(send, status, {"error": {"code": code, "message": message, "hint": hint}})


async def _send_json(
    send: Send, status: int, obj: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = orjson.dumps(obj)
    length = [(b"content-length", str(len(body)).encode())]
    await send_bytes(send, status, body, [*JSON_HEADERS, *length, *(headers or [])])


async def _too_large(send: Send, length: int | None, limit: int) -> None:
    size = f"this one is {length:,} bytes" if length is not None else "this one is larger"
    await _refuse(
        send,
        413,
        "body_too_large",
        f"admin request bodies are limited to {limit // (1024 * 1024)} MiB ({limit:,} bytes); {size}",
        "send less: a deploy's smoke file is meant for 10-20 short prompts",
    )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that gives the app the body already read, then whatever the client does next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_headers(send: Send) -> Send:
    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in RESPONSE_HEADERS if k not in present]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sender
