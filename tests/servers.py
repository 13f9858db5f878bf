"""Real servers on loopback for integration tests (STYLE habit 10: test network code on real stacks).

`run_asgi(app)` serves an ASGI app with uvicorn in a background thread on a
port the OS picks, and yields its base URL once it accepts connections:

    with run_asgi(create_sim_app(profile)) as base_url:
        client = OpenAI(base_url=f"{base_url}/v1", api_key="x")

It works from sync and async tests alike (the server has its own thread and
event loop). On exit it asks uvicorn to stop, lets in-flight requests finish
for `graceful_s`, then forces it; an exception that killed the server thread is
re-raised so a crash cannot pass silently.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

STARTUP_TIMEOUT_S = 10.0


@contextmanager
def run_asgi(app: Any, *, graceful_s: float = 3.0, port: int = 0, **config: Any) -> Iterator[str]:
    """Serve `app` on 127.0.0.1:<port> (0: the OS picks); extra keyword arguments go to `uvicorn.Config`."""
    # Binding here, before the thread starts, means the port is ours: no pick-then-bind race.
    # IPPROTO_TCP must be explicit: asyncio only sets TCP_NODELAY on accepted sockets whose
    # proto says TCP, and without it every keep-alive response waits ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # A fixed port (the seed's 11434/11435) must bind again right after the last test's server closed
    # idle keep-alive connections itself, which leaves them in TIME_WAIT on that port for a minute.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    settings: dict[str, Any] = {
        "loop": "asyncio",
        "http": "httptools",
        # websockets' legacy modules warn on import, and warnings are errors in this suite.
        "ws": "none",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": graceful_s,
    }
    settings.update(config)
    server = uvicorn.Server(uvicorn.Config(app, **settings))
    failure: list[BaseException] = []

    def serve() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # SystemExit included: uvicorn exits that way on a failed lifespan.
            failure.append(exc)

    thread = threading.Thread(target=serve, name=f"uvicorn-127.0.0.1:{port}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server stopped before it started") from (
                    failure[0] if failure else None
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"the test server did not start within {STARTUP_TIMEOUT_S:g} s")
            time.sleep(0.002)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(graceful_s + 2.0)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5.0)
        sock.close()
    if failure:
        raise RuntimeError("the test server crashed") from failure[0]
