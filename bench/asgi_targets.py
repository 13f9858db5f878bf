"""ASGI apps the stack comparison serves under uvicorn and granian.

- `hello`: reads the request body and answers the fixed chat completion: what
  the ASGI server itself costs.
- `slipway_app()`: the whole slipway application (gateway, admin API, runtime)
  built from SLIPWAY_BENCH_CONFIG and SLIPWAY_BENCH_STORE; the runtime is
  started from the lifespan and the start-up heap frozen, as `slipway serve`
  does before it serves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from _common import ZERO_BODY

_BODY = ZERO_BODY.encode()
_HEADERS = [(b"content-type", b"application/json")]


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body", False):
            break
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})


def slipway_app() -> Any:
    from slipway.app import ServeSettings, create_app
    from slipway.gateway.tuning import freeze_startup_heap

    settings = ServeSettings(
        config_path=Path(os.environ["SLIPWAY_BENCH_CONFIG"]),
        store_url=os.environ["SLIPWAY_BENCH_STORE"],
        watch_config=False,
        workdir=Path.cwd(),
    )
    app, runtime = create_app(settings)

    async def served(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await runtime.start()
                except BaseException as exc:
                    await runtime.stop()
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                freeze_startup_heap()  # as `slipway serve` does once the runtime has started
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    return served
