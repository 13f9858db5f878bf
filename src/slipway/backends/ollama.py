"""Ollama's native API: readiness from /api/tags and memory from /api/ps (the cost of keeping slots loaded).

Ollama keeps one runner per base GGUF file and reloads it whenever a model
with other adapters on that base is requested, so two such slots on one
server cannot both stay warm. `colocation_warnings` reads what each model is built
from (`/api/show`) and returns `core.colocation.shared_base_warning` for such a
plan, with the cold start measured from `load_duration` in `/api/chat`
answers when slipway has seen one. Building models from an adapter file
lives in `ollama_adapters`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from slipway.backends import ollama_adapters
from slipway.backends.http_errors import backend_errors
from slipway.core.colocation import ModelBuild, ollama_neighbours, shared_base_conflicts, shared_base_warning
from slipway.core.errors import BackendError
from slipway.core.types import RouteTable, Slot, SlotHealth

#: A `load_duration` shorter than this means the model was already loaded, not a cold start.
COLD_LOAD_MIN_S = 0.1


def _same_model(listed: str, wanted: str) -> bool:
    return listed == wanted or listed == f"{wanted}:latest" or listed.split(":", 1)[0] == wanted


class OllamaBackend:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        #: Longest cold load seen per (server, model), from `load_duration` in chat answers.
        self._cold_loads: dict[tuple[str, str], float] = {}

    async def check(self, slot: Slot) -> SlotHealth:
        try:
            with backend_errors(slot, "listing models"):
                resp = await self._client.get(slot.endpoint + "/api/tags", timeout=slot.connect_timeout_s + 5)
                resp.raise_for_status()
        except BackendError as exc:
            return SlotHealth(reachable=False, model_available=False, detail=exc.message)
        try:
            models = tuple(str(m.get("name")) for m in resp.json().get("models", []))
        except (ValueError, AttributeError):
            return SlotHealth(True, False, "GET /api/tags did not return Ollama's JSON: is this Ollama?")
        wanted = slot.backend_model
        if any(_same_model(m, wanted) for m in models):
            return SlotHealth(True, True, f"serves {wanted!r}", models, await self.memory(slot))
        return SlotHealth(
            True,
            False,
            f"Ollama has no model {wanted!r} (it has: {', '.join(models) or 'nothing'}); `ollama pull` or "
            "`ollama create` it first",
            models,
        )

    async def memory(self, slot: Slot) -> int | None:
        """Bytes the slot's model takes while loaded (`size` in `GET /api/ps`); None when not loaded."""
        try:
            with backend_errors(slot, "listing loaded models"):
                ps = await self._client.get(slot.endpoint + "/api/ps", timeout=slot.connect_timeout_s + 5)
            entries = ps.json().get("models", []) if ps.status_code == 200 else []
            names = [(str(e.get("name")), e) for e in entries if isinstance(e, dict)]
        except (BackendError, ValueError, AttributeError):
            return None
        wanted = slot.backend_model
        exact = [e for n, e in names if n in (wanted, f"{wanted}:latest")]
        for entry in exact or [e for n, e in names if _same_model(n, wanted)]:
            try:
                return int(entry.get("size", 0)) or None
            except (TypeError, ValueError):
                return None
        return None

    async def model_build(self, slot: Slot) -> ModelBuild | None:
        """The base and adapter blobs the slot's model is built from (`POST /api/show`)."""
        return await ollama_adapters.model_build(self._client, slot, slot.backend_model)

    async def push_blob(self, slot: Slot, path: Path, *, digest: str | None = None) -> str:
        """Upload a file to the slot's Ollama unless it has it already; returns `sha256:<hex>`."""
        return await ollama_adapters.push_blob(self._client, slot, path, digest=digest)

    async def create_with_adapter(
        self, slot: Slot, name: str, base_from: str, adapter_path: Path
    ) -> list[str]:
        """Create model `name` from base model `base_from` and a GGUF LoRA adapter on the slot's Ollama."""
        return await ollama_adapters.create_with_adapter(self._client, slot, name, base_from, adapter_path)

    async def colocation_warnings(self, table: RouteTable, slot: Slot) -> list[str]:
        """Warn when staging `slot` puts two adapters of one base GGUF on one Ollama server."""
        neighbours = ollama_neighbours(table, slot)
        if not neighbours:
            return []
        builds: dict[str, ModelBuild] = {}
        for s in (slot, *neighbours):
            try:
                build = await self.model_build(s)
            except BackendError:
                continue
            if build is not None:
                builds[s.backend_model] = build
        conflicts = shared_base_conflicts(table, slot, builds)
        measured = [self._cold_loads[k] for k in _keys(slot, *conflicts) if k in self._cold_loads]
        warning = shared_base_warning(table, slot, builds, cold_start_s=max(measured, default=None))
        return [warning] if warning else []

    async def complete(self, slot: Slot, request: dict[str, Any]) -> str:
        body: dict[str, Any] = {
            "model": slot.backend_model,
            "messages": request.get("messages", []),
            "stream": False,
            "options": {"temperature": request.get("temperature", 0)},
        }
        if request.get("max_tokens"):
            body["options"]["num_predict"] = request["max_tokens"]
        with backend_errors(slot, "running a prompt"):
            resp = await self._client.post(
                slot.endpoint + "/api/chat",
                json=body,
                timeout=httpx.Timeout(slot.read_timeout_s, connect=slot.connect_timeout_s),
            )
            resp.raise_for_status()
        try:
            answer = resp.json()
            content = answer["message"].get("content")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"slot {slot.name!r} returned an Ollama chat response without message.content", slot=slot.name
            ) from exc
        self._note_load(slot, answer.get("load_duration"))
        return content if isinstance(content, str) else ""

    def _note_load(self, slot: Slot, load_duration_ns: object) -> None:
        if not isinstance(load_duration_ns, int | float):
            return
        seconds = float(load_duration_ns) / 1e9
        key = (slot.endpoint.rstrip("/"), slot.backend_model)
        if seconds >= COLD_LOAD_MIN_S and seconds > self._cold_loads.get(key, 0.0):
            self._cold_loads[key] = seconds


def _keys(*slots: Slot) -> list[tuple[str, str]]:
    return [(s.endpoint.rstrip("/"), s.backend_model) for s in slots]
