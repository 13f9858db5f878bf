"""Unload a standby slot's model from its server, and load it again, in each server's own way.

* Ollama: a request with `keep_alive: 0` unloads the model; any later
  request loads it again (a cold start), so a rollback to it still works.
* vLLM: an adapter is unloaded at run time (`/v1/unload_lora_adapter`) and
  loaded again from its path; a base model is the server itself.
* llama.cpp on an engine slipway started: the engine process is stopped and
  started again from the same spec; someone else's llama-server is theirs
  to stop.
* the simulator: `/sim/unload` and `/sim/load`, with Ollama's semantics.

What a server does not let slipway release is refused with the reason,
never reported as done.
"""

from __future__ import annotations

import httpx

from slipway.backends.engine.fleet import EngineFleet, EngineSpec
from slipway.backends.http_errors import backend_errors
from slipway.backends.openai_compat import auth_headers
from slipway.backends.vllm import VllmBackend
from slipway.core.errors import TransitionError, UpstreamStatusError
from slipway.core.lora import ENGINE_SCHEME, is_engine_endpoint
from slipway.core.types import BackendKind, RouteTable, Slot

#: How long loading a model again may take before slipway stops waiting (the server goes on).
LOAD_TIMEOUT_S = 300.0


class BackendReleaser:
    def __init__(self, client: httpx.AsyncClient, vllm: VllmBackend, fleet: EngineFleet) -> None:
        self._client = client
        self._vllm = vllm
        self._fleet = fleet
        #: Engines stopped by an unload, by name: what `load` starts again.
        self._stopped: dict[str, EngineSpec] = {}

    async def release(self, slot: Slot, others: RouteTable) -> str:
        if any(
            s.endpoint == slot.endpoint and s.backend_model == slot.backend_model
            for s in others.slots.values()
        ):
            names = ", ".join(
                s.name for s in others.slots.values()
                if s.endpoint == slot.endpoint and s.backend_model == slot.backend_model
            )  # fmt: skip
            raise TransitionError(
                f"slot {slot.name!r} shares {slot.backend_model!r} on {slot.endpoint} with {names}: "
                "unloading it would unload theirs",
                hint="nothing to release: the model stays loaded for the slot that uses it",
            )
        kind = slot.kind
        if kind is BackendKind.OLLAMA:
            unload = {"model": slot.backend_model, "keep_alive": 0, "stream": False}
            await self._post(slot, "/api/generate", unload)
            return f"Ollama at {slot.endpoint} unloaded {slot.backend_model!r} (its files are kept)"
        if kind is BackendKind.SIM:
            await self._post(slot, "/sim/unload", {})
            return f"the simulator at {slot.endpoint} unloaded {slot.backend_model!r}"
        if kind is BackendKind.VLLM and slot.adapter is not None:
            await self._vllm.unload_adapter(slot, slot.backend_model)
            return f"vLLM at {slot.endpoint} unloaded adapter {slot.backend_model!r} (its files are kept)"
        if kind is BackendKind.LLAMACPP and is_engine_endpoint(slot.endpoint):
            if any(s.endpoint == slot.endpoint for s in others.slots.values()):
                raise TransitionError(
                    f"engine {slot.endpoint} also serves another slot; stopping it would stop that one",
                    hint="nothing to release: the engine stays up for the slot that uses it",
                )
            name = slot.endpoint.removeprefix(ENGINE_SCHEME)
            spec = self._fleet.specs.get(name)
            if spec is None:
                raise TransitionError(f"engine {name!r} is not running here", hint="nothing to release")
            await self._fleet.stop_one(name)
            self._stopped[name] = spec
            return f"engine {name!r} stopped (base and adapter files are kept)"
        raise TransitionError(
            f"slot {slot.name!r} is served by {slot.endpoint} ({kind}), which slipway did not start and "
            "cannot ask to unload a model",
            hint="stop or unload it on that server yourself; the slot stays in the routes",
        )

    async def load(self, slot: Slot) -> str:
        kind = slot.kind
        if kind is BackendKind.OLLAMA:
            await self._post(
                slot, "/api/generate", {"model": slot.backend_model, "stream": False}, timeout=LOAD_TIMEOUT_S
            )
            return f"Ollama at {slot.endpoint} loaded {slot.backend_model!r}"
        if kind is BackendKind.SIM:
            await self._post(slot, "/sim/load", {})
            return f"the simulator at {slot.endpoint} loaded {slot.backend_model!r}"
        if kind is BackendKind.VLLM and slot.adapter is not None:
            return await self._vllm.load_adapter(slot, slot.backend_model, slot.adapter)
        if kind is BackendKind.LLAMACPP and is_engine_endpoint(slot.endpoint):
            name = slot.endpoint.removeprefix(ENGINE_SCHEME)
            if name in self._fleet.specs:
                return f"engine {name!r} is running"
            spec = self._stopped.get(name)
            if spec is None:
                raise TransitionError(
                    f"engine {name!r} was not stopped by this slipway process: its settings are unknown here",
                    hint="restart slipway: it starts the engines its routes use",
                )
            await self._fleet.start({name: spec})
            del self._stopped[name]
            return f"engine {name!r} started again"
        raise TransitionError(
            f"slot {slot.name!r} is served by {slot.endpoint} ({kind}): slipway cannot load models there",
            hint="load it on that server yourself",
        )

    async def _post(
        self, slot: Slot, path: str, body: dict[str, object], *, timeout: float | None = None
    ) -> None:
        with backend_errors(slot, f"POST {path}"):
            resp = await self._client.post(
                slot.endpoint + path,
                json=body,
                headers=auth_headers(slot),
                timeout=httpx.Timeout(timeout or slot.read_timeout_s, connect=slot.connect_timeout_s),
            )
        if resp.status_code >= 400:
            raise UpstreamStatusError(
                f"{slot.endpoint} answered {resp.status_code} to POST {path}: {resp.text[:300]}",
                status=resp.status_code,
                body=resp.content,
                hint="read that server's log",
                slot=slot.name,
            )
