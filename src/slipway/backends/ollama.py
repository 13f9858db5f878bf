"""Ollama's native API: readiness from /api/tags and memory from /api/ps (BG5).

Ollama reloads its runner whenever a model with a different adapter on the
same base is requested, so two such slots cannot both stay warm; the
registry issue adds the warning for that plan.
"""

from __future__ import annotations

from typing import Any

import httpx

from slipway.backends.http_errors import backend_errors
from slipway.core.errors import BackendError
from slipway.core.types import Slot, SlotHealth


def _same_model(listed: str, wanted: str) -> bool:
    return listed == wanted or listed == f"{wanted}:latest" or listed.split(":", 1)[0] == wanted


class OllamaBackend:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def check(self, slot: Slot) -> SlotHealth:
        try:
            with backend_errors(slot, "listing models"):
                resp = await self._client.get(slot.endpoint + "/api/tags", timeout=slot.connect_timeout_s + 5)
                resp.raise_for_status()
                ps = await self._client.get(slot.endpoint + "/api/ps", timeout=slot.connect_timeout_s + 5)
        except BackendError as exc:
            return SlotHealth(reachable=False, model_available=False, detail=exc.message)
        try:
            models = tuple(str(m.get("name")) for m in resp.json().get("models", []))
        except (ValueError, AttributeError):
            return SlotHealth(True, False, "GET /api/tags did not return Ollama's JSON: is this Ollama?")
        memory = None
        if ps.status_code == 200:
            try:
                for entry in ps.json().get("models", []):
                    if _same_model(str(entry.get("name")), slot.backend_model):
                        memory = int(entry.get("size", 0)) or None
            except (ValueError, AttributeError, TypeError):
                memory = None
        wanted = slot.backend_model
        if any(_same_model(m, wanted) for m in models):
            return SlotHealth(True, True, f"serves {wanted!r}", models, memory)
        return SlotHealth(
            True,
            False,
            f"Ollama has no model {wanted!r} (it has: {', '.join(models) or 'nothing'}); `ollama pull` or "
            "`ollama create` it first",
            models,
        )

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
            content = resp.json()["message"].get("content")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BackendError(
                f"slot {slot.name!r} returned an Ollama chat response without message.content", slot=slot.name
            ) from exc
        return content if isinstance(content, str) else ""
