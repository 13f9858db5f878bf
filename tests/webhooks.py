"""A webhook receiver for tests: a tiny Starlette app on loopback that keeps every JSON body POSTed to it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.servers import run_asgi


@dataclass
class Hook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    #: While True every POST gets a 503 (a sink that is down).
    down: bool = False
    #: Every accepted POST as it arrived: its headers and raw body (to check signatures).
    raw: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def wait_for(self, event: str, timeout: float = 10.0) -> dict[str, Any]:
        """The first body whose `slipway.event` is `event`, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for body in self.bodies():
                if body.get("slipway", {}).get("event") == event:
                    return body
            time.sleep(0.02)
        got = [b.get("slipway", {}).get("event") for b in self.bodies()]
        raise AssertionError(f"no {event!r} notification within {timeout:g}s; got {got}")


@contextlib.contextmanager
def webhook_receiver(*, fail_first: int = 0) -> Iterator[Hook]:
    """Serve a hook; the first `fail_first` POSTs get a 503 (to exercise retries)."""
    hook = Hook(url="")
    failures = [fail_first]

    async def receive(request: Request) -> JSONResponse:
        if hook.down:
            return JSONResponse({"ok": False}, status_code=503)
        if failures[0] > 0:
            failures[0] -= 1
            return JSONResponse({"ok": False}, status_code=503)
        raw = await request.body()
        body = await request.json()
        with hook._lock:
            hook.received.append(body)
            hook.raw.append((dict(request.headers), raw))
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hook", receive, methods=["POST"])])
    with run_asgi(app) as url:
        hook.url = f"{url}/hook"
        yield hook
