"""The engines one `slipway serve` runs: start them, keep them up, say where they are, stop them.

Each engine is a supervised `LlamaServerProcess`. Whenever one (re)starts,
its URL and adapter order are published to the `EngineDirectory` the
gateway reads per request, so a crash-and-restart on a new port is invisible
to routing. Adapter files must be validated before `start` (the composition
root does that with the registry): llama-server refuses to start at all if
one adapter is bad, taking the good ones down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slipway.backends.engine.process import LlamaServerProcess, SupervisorEvent
from slipway.core.lora import ENGINE_SCHEME, EngineDirectory, EngineInfo

log = logging.getLogger("slipway.engine")


@dataclass(frozen=True, slots=True)
class EngineSpec:
    """An engine with its files resolved to absolute paths."""

    name: str
    base: Path
    adapters: tuple[Path, ...]
    port: int | None = None
    ctx_size: int = 2048
    parallel: int = 2
    args: tuple[str, ...] = ()


class EngineFleet:
    def __init__(self, directory: EngineDirectory, log_dir: Path, binary: Path | None = None) -> None:
        self._directory = directory
        self._log_dir = log_dir
        self._binary = binary
        self._procs: dict[str, LlamaServerProcess] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.specs: dict[str, EngineSpec] = {}
        #: Answering /health since its last (re)start; False from a crash until the restart is healthy.
        self._ready: dict[str, bool] = {}

    async def start(self, specs: Mapping[str, EngineSpec]) -> None:
        """Start every engine and wait until each answers /health; the first failure raises."""
        self._log_dir.mkdir(parents=True, exist_ok=True)
        for name, spec in specs.items():
            proc = LlamaServerProcess(
                spec.base,
                list(spec.adapters),
                binary=self._binary,
                port=spec.port,
                ctx_size=spec.ctx_size,
                parallel=spec.parallel,
                extra_args=spec.args,
                log_path=self._log_dir / f"engine-{name}.log",
            )
            self._procs[name] = proc
            self.specs[name] = spec
            await proc.start()
            self._ready[name] = True
            self._publish(name)
            log.info("engine %s ready at %s (%d adapters)", name, proc.base_url, len(spec.adapters))
            self._tasks[name] = asyncio.create_task(
                proc.supervise(on_event=functools.partial(self._on_event, name)),
                name=f"slipway-engine-{name}",
            )

    def _publish(self, name: str) -> None:
        proc = self._procs[name]
        self._directory.publish(
            ENGINE_SCHEME + name,
            EngineInfo(url=proc.base_url, adapters=tuple(str(a.path) for a in proc.adapters)),
        )

    def _on_event(self, name: str, event: SupervisorEvent) -> None:
        self._ready[name] = event.kind in ("started", "restarted")
        if event.kind in ("started", "restarted"):
            self._publish(name)
            log.warning("engine %s %s (restarts: %d)", name, event.kind, event.restarts)
        elif event.kind == "crashed":
            log.error("engine %s crashed (exit %s): %s", name, event.exit_code, event.detail[-300:])

    async def stop(self) -> None:
        for name in list(self._procs):
            await self.stop_one(name)

    async def stop_one(self, name: str) -> None:
        proc = self._procs.pop(name, None)
        self.specs.pop(name, None)
        self._ready.pop(name, None)
        if proc is None:
            return
        task = self._tasks.pop(name, None)
        await proc.stop()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._directory.forget(ENGINE_SCHEME + name)

    def process(self, name: str) -> LlamaServerProcess | None:
        return self._procs.get(name)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per engine: where, alive, restarts, memory."""
        out: dict[str, dict[str, Any]] = {}
        for name, proc in self._procs.items():
            rss = proc.rss_bytes()
            out[name] = {
                "url": proc.base_url,
                "alive": proc.is_alive(),
                "ready": proc.is_alive() and self._ready.get(name, False),
                "pid": proc.pid,
                "restarts": proc.restarts,
                "rss_mb": round(rss / 2**20, 1) if rss is not None else None,
                "base": str(proc.model),
                "adapters": [a.path.name for a in proc.adapters],
                "log": str(proc.log_path),
            }
        return out
