"""The ASGI application for one process, and `slipway serve` running it under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import TYPE_CHECKING

from fastapi import FastAPI

from slipway.app.runtime import Runtime
from slipway.app.settings import ServeSettings, check_admin_exposure
from slipway.core.bearer import ADMIN_TOKEN, FEEDBACK_TOKEN, BearerSecret
from slipway.core.errors import ConfigError
from slipway.core.gateway_config import GatewayConfig
from slipway.gateway.app import GatewayApp
from slipway.gateway.connections import ConnectionLimits, fd_budget, guarded_protocol
from slipway.gateway.tuning import freeze_startup_heap
from slipway.web.admin import create_admin_app
from slipway.web.auth import TokenGuard
from slipway.web.guard import AdminGuard, HostPolicy

if TYPE_CHECKING:
    from slipway.app.workers import WorkerSpec

log = logging.getLogger("slipway")


def create_app(settings: ServeSettings) -> tuple[GatewayApp, Runtime]:
    """The whole ASGI application for one process, and the runtime behind it."""
    check_admin_exposure(settings)
    runtime = Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        try:
            yield
        finally:
            await runtime.stop()

    token = TokenGuard(settings.admin_token)
    admin = create_admin_app(runtime, token, lifespan)
    hosts = HostPolicy(settings.host, lambda: (*settings.allowed_hosts, *runtime.allowed_hosts()))
    gateway = GatewayApp(
        runtime.routes,
        runtime.proxy,
        lambda: runtime.recorder,
        lambda: runtime.store,
        AdminGuard(admin, token, hosts),
        public_model=runtime.public_model,
        other_replicas=runtime.other_replicas,
        feedback_secrets=feedback_secrets(settings),
    )
    return gateway, runtime


def feedback_secrets(settings: ServeSettings) -> tuple[BearerSecret, ...]:
    """Who may label answers: nobody in particular without a feedback token; with one, its holders
    and the admin's (an operator labelling by hand needs no second secret)."""
    if not settings.feedback_token:
        return ()
    return (
        BearerSecret(settings.feedback_token, FEEDBACK_TOKEN),
        BearerSecret(settings.admin_token, ADMIN_TOKEN),
    )


def serve(settings: ServeSettings, worker: WorkerSpec | None = None) -> None:
    """Run until SIGINT/SIGTERM. Start-up problems (bad config, no routes, store) raise SlipwayError.

    `worker`: this process is one of `slipway serve --workers N`'s (see
    `slipway.app.workers`): it serves on the socket its parent bound, tells
    the parent once it serves, and stops if the parent disappears.

    The port is bound first, so a port already in use refuses the start
    before anything is read from or written to the store (a second serve
    started by mistake once wrote a route change and only then failed to
    bind). The runtime then starts outside the ASGI lifespan, so a refused
    start is one clear error for the CLI to print rather than a lifespan
    traceback, and the socket only listens once everything can be served.
    """
    import uvicorn
    import uvloop

    if worker is not None:
        settings = replace(settings, worker=worker.number)
    app, runtime = create_app(settings)
    if worker is not None:
        worker.refuse_engines(runtime.config)
    gateway = runtime.config.gateway if runtime.config is not None else GatewayConfig()
    limits = ConnectionLimits(
        max_connections=fd_budget(gateway.max_connections),
        header_timeout_s=gateway.header_timeout_s,
        body_timeout_s=gateway.body_timeout_s,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        loop="none",
        http=guarded_protocol(limits, runtime.connections),
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=gateway.shutdown_grace_s,
        # A worker's uvicorn lines go through the root logger, so they carry the worker's tag.
        log_config=None if worker is not None else uvicorn.config.LOGGING_CONFIG,
    )
    server = uvicorn.Server(config)
    listener = worker.listener() if worker is not None else bind_listener(settings.host, settings.port)

    async def main() -> None:
        try:
            await runtime.start()
        except BaseException:
            await runtime.stop()
            raise
        freeze_startup_heap()
        helpers = []
        if worker is not None:
            helpers = [
                asyncio.create_task(worker.announce_when_serving(server), name="slipway-worker-ready"),
                asyncio.create_task(worker.stop_when_orphaned(server), name="slipway-worker-parent"),
            ]
        try:
            await server.serve(sockets=[listener])
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await runtime.stop()

    # uvicorn re-raises the SIGTERM/SIGINT it handled once it has shut down, under the
    # handlers that were installed before it started. With Python's defaults that kills the
    # process before `runtime.stop()`: queued records lost, engines orphaned. These handlers
    # make the re-raise harmless; uvicorn's own handlers still do the graceful shutdown.
    def on_signal(signum: int, _frame: object) -> None:
        if not server.started:
            raise KeyboardInterrupt(f"signal {signum} during start-up")
        log.info("signal %d after shutdown began; finishing the clean stop", signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        uvloop.run(main())
    finally:
        listener.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def bind_listener(host: str, port: int) -> socket.socket:
    """The server's socket, bound (not yet listening); a ConfigError that says why if it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; nothing was started or changed",
            hint="another process (another slipway serve?) holds that port: stop it, or pass --port N",
        ) from None
    sock.set_inheritable(True)
    return sock
