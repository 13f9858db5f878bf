"""A deploy of an adapter the running engine has not loaded: a new engine, in the standby slot.

llama.cpp loads adapters only at start, so a version that is not loaded yet
cannot be switched on by a route change. Instead a second llama-server is
started on the same base with the new adapter, the standby slot points at it,
and the usual checks (health, smoke test) run against it before any traffic
moves; the old engine keeps serving and stays warm for the rollback. Engines
started this way are remembered (`on_change`) so a restart brings them back.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from slipway.backends.engine.fleet import EngineFleet, EngineSpec
from slipway.core.errors import NotFoundError
from slipway.core.lora import ENGINE_SCHEME, EngineDirectory, is_engine_endpoint
from slipway.core.types import BackendKind, RouteTable, Slot

#: Checks an adapter file against a base before any engine loads it (raises SlipwayError).
ValidateAdapter = Callable[[Path, Path], None]


def _engine_name(base_engine: str, adapter: Path) -> str:
    version = adapter.stem.split("-", 1)[0]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{base_engine}-{version}")[:63]


class EngineProvisioner:
    def __init__(
        self,
        fleet: EngineFleet,
        directory: EngineDirectory,
        validate: ValidateAdapter,
        on_change: Callable[[dict[str, EngineSpec]], Awaitable[None]],
    ) -> None:
        self._fleet = fleet
        self._directory = directory
        self._validate = validate
        self._on_change = on_change
        #: Engines this provisioner started, by name (what a restart must bring back).
        self.started: dict[str, EngineSpec] = {}

    async def provision(self, slot: Slot) -> Slot:
        if slot.kind is not BackendKind.LLAMACPP or slot.adapter is None:
            return slot
        if not is_engine_endpoint(slot.endpoint):
            return slot  # someone else's llama-server: the health check says if it lacks the adapter
        engine = slot.endpoint.removeprefix(ENGINE_SCHEME)
        info = self._directory.get(slot.endpoint)
        spec = self._fleet.specs.get(engine)
        if info is None or spec is None:
            return slot  # not running: the health check reports it
        try:
            info.lora_for(slot.adapter, where=f"engine {engine!r}")
            return slot  # loaded already: a route change is all it takes
        except NotFoundError as not_loaded:
            path = Path(slot.adapter).expanduser()
            if not path.is_file():
                raise NotFoundError(
                    f"{not_loaded.message}, and {slot.adapter!r} is not an adapter file either",
                    hint="pass the adapter's path (models/<name>/adapters/<version>.gguf) to load it "
                    "in a new engine, or pick a loaded version",
                ) from None
        path = path.resolve()
        self._validate(path, spec.base)
        name = _engine_name(engine, path)
        if name not in self._fleet.specs:
            new = EngineSpec(
                name=name,
                base=spec.base,
                adapters=(path,),
                ctx_size=spec.ctx_size,
                parallel=spec.parallel,
                args=spec.args,
            )
            await self._fleet.start({name: new})
            self.started[name] = new
            await self._on_change(dict(self.started))
        return slot.with_changes(endpoint=ENGINE_SCHEME + name, adapter=str(path))

    async def discard(self, slot: Slot, table: RouteTable) -> None:
        name = slot.endpoint.removeprefix(ENGINE_SCHEME)
        if any(s.endpoint == slot.endpoint for s in table.slots.values()):
            return  # another slot still runs on that engine
        if is_engine_endpoint(slot.endpoint) and name in self.started:
            await self._fleet.stop_one(name)
            del self.started[name]
            await self._on_change(dict(self.started))
