"""Run one `llama-server` for a base model and its adapters, and keep it up.

llama.cpp loads LoRA adapters only at start, so one process serves one base
GGUF with every adapter version it may need loaded side by side, all at scale
0 (`--lora-scaled a.gguf:0,b.gguf:0`): a request that forgets its `lora`
field then gets the base model rather than a silent blend of every adapter.
The gateway picks the adapter per request with the full `lora` list, which
is what makes an adapter rollback a route-table change: no base-model reload,
and any earlier version is one config change away.

The process is a plain `subprocess.Popen` polled from asyncio rather than an
asyncio subprocess: it is not tied to the event loop that started it, so a
supervisor, a test fixture and a CLI command can each own it in turn.
stdout and stderr go to a log file (never a pipe that could fill and stall
the server); its tail is quoted in every start-up error, because that is
where llama.cpp says what was wrong. HTTP calls to it ignore proxy
environment variables: the engine is a local child process, and a corporate
HTTP_PROXY without a NO_PROXY for 127.0.0.1 would otherwise swallow them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from slipway.core.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    UpstreamStatusError,
)

from .install import EngineInstallError, engine_env, find_llama_server

log = logging.getLogger(__name__)

_FAILED_ADAPTER = re.compile(r"failed to (?:load|apply) lora adapter '([^']+)'", re.IGNORECASE)
_BIND_FAILED = re.compile(r"couldn't bind|address already in use|failed to bind", re.IGNORECASE)


#: prctl(2) option: the signal the kernel sends a child when the thread that forked it dies.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that has the kernel stop llama-server when slipway dies, even by SIGKILL.

    Without it an OOM-killed or `kill -9`ed slipway leaves its engines running,
    holding their ports and memory, and the restarted slipway starts a second
    set beside them. The signal is tied to the forking thread, which is the
    event loop's thread, alive for as long as the engine is supervised. Linux
    only; elsewhere engines are stopped on every orderly exit as before.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:  # runs in the child between fork and exec: no locks, no allocation to speak of
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # slipway died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


class EngineStartError(BackendError):
    """llama-server exited or never became healthy during start-up."""

    code = "engine_start_failed"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        log_tail: str = "",
        adapter: Path | None = None,
        exit_code: int | None = None,
    ) -> None:
        self.log_tail = log_tail
        self.adapter = adapter
        self.exit_code = exit_code
        super().__init__(message, hint=hint)


@dataclass(frozen=True)
class Adapter:
    """One LoRA file to load, with its start-up scale (0: off until a request asks)."""

    path: Path
    scale: float = 0.0


@dataclass(frozen=True)
class SupervisorEvent:
    """What the supervisor did, for logs, notifications and tests."""

    #: "started" / "start_failed" (supervise() did the first start),
    #: "crashed", "restarted" / "restart_failed".
    kind: str
    at: float
    restarts: int
    exit_code: int | None = None
    detail: str = ""


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now (another process may take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LlamaServerProcess:
    """One supervised llama-server: a base GGUF plus a fixed list of adapters.

    Adapter ids in the server's `lora` field follow the order of `adapters`.
    """

    def __init__(
        self,
        model: Path,
        adapters: Sequence[Path | Adapter] = (),
        *,
        binary: Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        ctx_size: int = 1024,
        parallel: int = 2,
        threads: int | None = None,
        log_path: Path | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 60.0,
    ) -> None:
        self.model = Path(model)
        self.adapters: tuple[Adapter, ...] = tuple(
            a if isinstance(a, Adapter) else Adapter(Path(a)) for a in adapters
        )
        self._binary = binary
        self.host = host
        self._auto_port = port is None
        self.port = port if port is not None else free_port(host)
        self.ctx_size = ctx_size
        self.parallel = parallel
        self.threads = threads
        self.extra_args = tuple(extra_args)
        self.startup_timeout = startup_timeout
        self._log_path = log_path
        self.restarts = 0
        self.events: list[SupervisorEvent] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._stopping = False
        self._started_at: float | None = None
        self._reported: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ identity

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def log_path(self) -> Path:
        """Where stdout/stderr go; a temp file unless given (created on first use)."""
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="slipway-llama-server-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        return self._log_path

    @property
    def binary(self) -> Path:
        if self._binary is None:
            found = find_llama_server()
            if found is None:
                raise EngineInstallError(
                    "llama-server is not installed",
                    hint="Run `slipway engine install` (builds it once, about 9 minutes on 2 cores), "
                    "put llama-server on PATH, or set SLIPWAY_LLAMA_SERVER.",
                )
            self._binary = found
        return self._binary

    def command(self) -> list[str]:
        """The exact argv; adapters go in one comma-separated --lora-scaled flag.

        One flag, not one per adapter: repeating --lora has behaved
        differently across llama.cpp builds, the comma list has not.
        """
        cmd = [
            str(self.binary),
            "--model",
            str(self.model),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--ctx-size",
            str(self.ctx_size),
            "--parallel",
            str(self.parallel),
            "--no-webui",
            "--metrics",
        ]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        if self.adapters:
            for adapter in self.adapters:
                if "," in str(adapter.path) or ":" in str(adapter.path):
                    raise BackendError(
                        f"adapter path {adapter.path} contains ',' or ':', "
                        "which --lora-scaled cannot express",
                        hint="Rename or move the adapter file.",
                    )
            cmd += [
                "--lora-scaled",
                ",".join(f"{a.path}:{a.scale:g}" for a in self.adapters),
            ]
        cmd += list(self.extra_args)
        return cmd

    # ------------------------------------------------------------------ lifecycle

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    async def start(self) -> None:
        """Spawn the server and return once /health answers 200.

        Raises EngineStartError (with the log tail, and the adapter when
        llama.cpp named one) if it exits early, BackendTimeout if it never
        becomes healthy. An auto-picked port lost to a race is retried.
        """
        self._stopping = False
        await self._start()

    async def _start(self) -> None:
        if self.is_alive():
            return
        attempts = 3 if self._auto_port else 1
        for attempt in range(attempts):
            try:
                await self._start_once()
                return
            except EngineStartError as exc:
                if attempt + 1 < attempts and _BIND_FAILED.search(exc.log_tail):
                    self.port = free_port(self.host)
                    continue
                raise

    async def _start_once(self) -> None:
        for adapter in self.adapters:
            if not adapter.path.is_file():
                raise EngineStartError(
                    f"adapter {adapter.path} does not exist",
                    hint="Check the path; llama-server would refuse to start.",
                    adapter=adapter.path,
                )
        if not self.model.is_file():
            raise EngineStartError(f"model {self.model} does not exist", hint="Check the path.")
        cmd = self.command()
        if self._stopping:
            raise EngineStartError("llama-server start cancelled: stop() was called")
        with self.log_path.open("ab") as log_file:
            self._log_offset = log_file.tell()
            log_file.write(f"\n=== slipway: starting {' '.join(cmd)}\n".encode())
            log_file.flush()
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=engine_env(self.binary),
                start_new_session=True,
                preexec_fn=_die_with_parent(),
            )
        self._started_at = time.monotonic()
        log.info("llama-server pid %s starting on %s (log %s)", self._proc.pid, self.base_url, self.log_path)
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
            while True:
                code = self.exit_code
                if code is not None:
                    raise self._start_failure(code)
                if self._stopping:
                    await self._terminate(5.0)
                    raise EngineStartError("llama-server start cancelled: stop() was called")
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{self.base_url}/health")
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    await self._terminate(5.0)
                    raise BackendTimeout(
                        f"llama-server for {self.model.name} did not become healthy within "
                        f"{self.startup_timeout:g} s; log tail:\n{tail}",
                        hint=f"Full log: {self.log_path}. Raise startup_timeout for large models.",
                    )
                await asyncio.sleep(0.05)

    def _start_failure(self, code: int) -> EngineStartError:
        tail = self.log_tail()
        match = _FAILED_ADAPTER.search(tail)
        if match:
            adapter = Path(match.group(1))
            return EngineStartError(
                f"llama-server exited with status {code} at start-up: adapter {adapter} failed to load "
                f"(one bad adapter stops the whole server); log tail:\n{tail}",
                hint="Validate the adapter against this base (`slipway adapters validate`) and "
                "start the engine without it.",
                log_tail=tail,
                adapter=adapter,
                exit_code=code,
            )
        return EngineStartError(
            f"llama-server for {self.model.name} exited with status {code} at start-up; log tail:\n{tail}",
            hint=f"Full log: {self.log_path}.",
            log_tail=tail,
            exit_code=code,
        )

    def log_tail(self, max_chars: int = 2000) -> str:
        """The end of this start's log (earlier starts are in the file above it)."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return text if len(text) <= max_chars else "…" + text[-max_chars:]

    async def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; also ends supervision."""
        self._stopping = True
        await self._terminate(timeout)

    async def _terminate(self, timeout: float) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            while proc.poll() is None:
                await asyncio.sleep(0.02)

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def __aenter__(self) -> LlamaServerProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ supervision

    async def supervise(
        self,
        *,
        poll_interval: float = 0.2,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        stable_after: float = 60.0,
        max_restarts: int | None = None,
        on_event: Callable[[SupervisorEvent], None] | None = None,
    ) -> None:
        """Restart the server whenever it dies, until `stop()` is called.

        Backoff doubles after each failed or short-lived run and resets once a
        run has lasted `stable_after` seconds, so a crash loop (a bad adapter,
        a full disk) does not spin while a rare crash is healed in well under
        a second. Cancel the task or call stop() to end it.
        """
        backoff = initial_backoff
        first = self._proc is None

        def emit(event: SupervisorEvent) -> None:
            self.events.append(event)
            if on_event is not None:
                on_event(event)

        while not self._stopping:
            if self.is_alive():
                await asyncio.sleep(poll_interval)
                continue
            proc = self._proc
            if proc is not None and proc is not self._reported:
                # A death not seen before (not a start that failed just now).
                self._reported = proc
                ran_for = time.monotonic() - (self._started_at or time.monotonic())
                if ran_for >= stable_after:
                    backoff = initial_backoff
                log.warning("llama-server pid %s exited with %s after %.1f s", proc.pid, proc.poll(), ran_for)
                emit(SupervisorEvent("crashed", time.time(), self.restarts, proc.poll(), self.log_tail(500)))
            if not first:
                if max_restarts is not None and self.restarts >= max_restarts:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff)
                if self._stopping:
                    return
                self.restarts += 1
            first = False
            await self._supervised_start(emit)

    async def _supervised_start(self, emit: Callable[[SupervisorEvent], None]) -> None:
        kind = "restarted" if self.restarts else "started"
        try:
            await self._start()
        except (EngineStartError, BackendTimeout) as exc:
            if self._stopping:
                return
            self._reported = self._proc  # the failure is reported here, not as a crash
            emit(
                SupervisorEvent(
                    f"{kind.removesuffix('ed')}_failed", time.time(), self.restarts, self.exit_code, str(exc)
                )
            )
            return
        emit(SupervisorEvent(kind, time.time(), self.restarts))

    # ------------------------------------------------------------------ introspection

    def rss_bytes(self) -> int | None:
        """Resident memory of the server process, None when not running."""
        if not self.is_alive() or self.pid is None:
            return None
        try:
            rss: int = psutil.Process(self.pid).memory_info().rss
        except psutil.Error:
            return None
        return rss

    async def health(self) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
                response = await client.get(f"{self.base_url}/health")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def props(self) -> dict[str, Any]:
        """The server's /props: model path, n_ctx, slots, build info."""
        body = await self._get_json("/props")
        if not isinstance(body, dict):
            raise UpstreamStatusError("/props did not return an object", status=200)
        return body

    async def lora_adapters(self) -> list[dict[str, Any]]:
        """The server's /lora-adapters: id, path and global scale of each adapter."""
        body = await self._get_json("/lora-adapters")
        if not isinstance(body, list):
            raise UpstreamStatusError("/lora-adapters did not return a list", status=200)
        return [dict(item) for item in body if isinstance(item, dict)]

    async def _get_json(self, path: str) -> Any:
        url = f"{self.base_url}{path}"
        try:
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                response = await client.get(url)
        except httpx.TimeoutException as exc:
            raise BackendTimeout(f"GET {url} timed out") from exc
        except httpx.HTTPError as exc:
            raise BackendUnavailable(
                f"GET {url} failed: {exc}", hint="Is the engine running? See its log."
            ) from exc
        if response.status_code != 200:
            raise UpstreamStatusError(
                f"GET {url} answered {response.status_code}",
                status=response.status_code,
                body=response.content[:2000],
            )
        return response.json()
