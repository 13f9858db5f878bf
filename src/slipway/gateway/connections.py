"""The gateway's front door: a cap on open connections, and deadlines for a request's headers and body.

uvicorn closes a keep-alive connection that sits idle between requests, but
not one that never sends a request, trickles its headers a byte at a time, or
never finishes its body. A few thousand such sockets used to exhaust the
process's file descriptors: fresh clients got nothing, and requests already
admitted failed to reach their backend, which a canary then read as the
candidate's errors. Here every connection gets a deadline for its headers,
then one for its body, and connections past the cap are refused at once with
a 503 that says so. What is refused or cut is counted (`ConnectionStats`),
never recorded against a slot: no slot was involved.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from dataclasses import dataclass
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("slipway.gateway")

#: File descriptors kept back from client connections: the store, engines, logs, listening sockets.
RESERVED_FDS = 256


#: Errors of this process's own resources when it opens a connection to a backend.
_OWN_EXHAUSTION = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


def own_exhaustion(exc: BaseException) -> OSError | None:
    """The error, if opening a backend connection failed because this process ran out of files or memory.

    Then slipway is overloaded and the backend is not at fault: nothing may count it against a slot.
    """
    os_error = getattr(exc, "os_error", exc)
    if isinstance(os_error, OSError) and os_error.errno in _OWN_EXHAUSTION:
        return os_error
    return None


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int = 4096
    #: From the first byte of a request (or from the connection's start) to the end of its headers.
    header_timeout_s: float = 10.0
    #: From the end of the headers to the end of the body.
    body_timeout_s: float = 60.0


@dataclass(slots=True)
class ConnectionStats:
    """What the front door refused or cut, since start (shown by status and /metrics)."""

    open: int = 0
    refused_over_limit: int = 0
    header_timeouts: int = 0
    body_timeouts: int = 0


def fd_budget(wanted: int) -> int:
    """Raise this process's open-file limit as far as allowed; the connection cap that then fits.

    Each admitted client connection may hold a second descriptor for its
    backend, so the cap is at most half of what is left after `RESERVED_FDS`.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    fits = max(16, (soft - RESERVED_FDS) // 2)
    if wanted > fits:
        log.warning(
            "gateway.max_connections is %d, but this process may open %d files: capping connections "
            "at %d (raise the limit with `ulimit -n`, or LimitNOFILE= under systemd)",
            wanted,
            soft,
            fits,
        )
    return min(wanted, fits)


def _response(status: bytes, message: str, code: str, extra: bytes = b"") -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "server_error", "param": None, "code": code}})
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\nconnection: close\r\n" + extra
        + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )  # fmt: skip


def guarded_protocol(limits: ConnectionLimits, stats: ConnectionStats) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the cap and the deadlines; give it to `uvicorn.Config(http=...)`."""
    full = _response(
        b"503 Service Unavailable",
        f"slipway is at its limit of {limits.max_connections} open connections; retry shortly "
        "(raise gateway.max_connections in the routing config if this is regular traffic)",
        "too_many_connections",
        b"retry-after: 1\r\n",
    )
    slow_headers = _response(
        b"408 Request Timeout",
        f"the request's headers did not arrive within {limits.header_timeout_s:g}s",
        "request_timeout",
    )
    slow_body = _response(
        b"408 Request Timeout",
        f"the request's body did not arrive within {limits.body_timeout_s:g}s of its headers",
        "request_timeout",
    )

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline: asyncio.TimerHandle | None = None
            self._refused = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= limits.max_connections:
                # Answer before reading anything, then half-close and drain briefly, so the client
                # reads the 503 instead of a reset; the socket is gone within a second either way.
                self._refused = True
                self.transport = transport
                stats.refused_over_limit += 1
                transport.write(full)
                if transport.can_write_eof():
                    transport.write_eof()
                self._deadline = self.loop.call_later(1.0, transport.close)
                return
            super().connection_made(transport)
            stats.open = len(self.connections)
            self._arm(limits.header_timeout_s, self._headers_late)

        def data_received(self, data: bytes) -> None:
            if not self._refused:
                super().data_received(data)

        def eof_received(self) -> None:
            if self._refused:
                self.transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._refused:
                return
            super().connection_lost(exc)
            stats.open = len(self.connections)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._deadline is None:
                self._arm(limits.header_timeout_s, self._headers_late)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()
            self._arm(limits.body_timeout_s, self._body_late)

        def on_message_complete(self) -> None:
            self._disarm()
            super().on_message_complete()

        def _arm(self, delay: float, callback: Any) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(delay, callback)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _headers_late(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            stats.header_timeouts += 1
            self.transport.write(slow_headers)
            self.transport.close()

        def _body_late(self) -> None:
            self._deadline = None
            if self.transport.is_closing():
                return
            stats.body_timeouts += 1
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                self.transport.write(slow_body)
            if cycle is not None:
                # The handler waiting for the rest of the body hears that the client is gone.
                cycle.disconnected = True
                cycle.message_event.set()
            self.transport.close()

    return GuardedHttpToolsProtocol
