"""Any OpenAI-compatible server: llama.cpp's llama-server, vLLM, llama-cpp-python, TGI, slipway's sim.

Readiness is `GET /v1/models` listing the slot's model; servers that serve a
single model under another alias (llama-server) are accepted with a note,
because they answer every model name.
"""

from __future__ import annotations

import os
from typing import Any

import httpx

from slipway.backends.http_errors import backend_errors
from slipway.core.errors import BackendError
from slipway.core.types import BackendKind, Slot, SlotHealth

SINGLE_MODEL_SERVERS = {BackendKind.LLAMACPP, BackendKind.SIM}


def auth_headers(slot: Slot) -> dict[str, str]:
    if slot.api_key_env and os.environ.get(slot.api_key_env):
        return {"authorization": f"Bearer {os.environ[slot.api_key_env]}"}
    return {}


class OpenAICompatBackend:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def base_url(self, slot: Slot) -> str:
        """Where the slot's server answers (an engine slot's port is only known at run time)."""
        return slot.endpoint

    async def request_extras(self, slot: Slot) -> dict[str, Any]:
        """Fields a server needs in every request body beyond the OpenAI ones."""
        return {}

    async def check(self, slot: Slot) -> SlotHealth:
        try:
            base = await self.base_url(slot)
            with backend_errors(slot, "listing models"):
                resp = await self._client.get(
                    base + "/v1/models",
                    headers=auth_headers(slot),
                    timeout=slot.connect_timeout_s + 5,
                )
                resp.raise_for_status()
        except BackendError as exc:
            return SlotHealth(reachable=False, model_available=False, detail=exc.message)
        try:
            models = tuple(str(m.get("id")) for m in resp.json().get("data", []) if isinstance(m, dict))
        except ValueError:
            return SlotHealth(
                True, False, "GET /v1/models did not return JSON: is this an OpenAI-compatible server?"
            )
        wanted = slot.backend_model
        if wanted in models:
            return SlotHealth(True, True, f"serves {wanted!r}", models)
        if slot.kind in SINGLE_MODEL_SERVERS or len(models) == 1:
            return SlotHealth(
                True, True, f"single-model server (lists {', '.join(models) or 'nothing'})", models
            )
        return SlotHealth(
            True,
            False,
            f"server does not list model {wanted!r} (it lists: {', '.join(models) or 'nothing'}); "
            "load it there or fix the slot's model/upstream_model",
            models,
        )

    async def complete(self, slot: Slot, request: dict[str, Any]) -> str:
        """One answer, non-streaming: a chat request (`messages`) or a raw completion (`prompt`)."""
        body = {**request, **(await self.request_extras(slot))}
        body["model"] = slot.backend_model
        body["stream"] = False
        chat = "messages" in body
        base = await self.base_url(slot)
        with backend_errors(slot, "running a prompt"):
            resp = await self._client.post(
                base + ("/v1/chat/completions" if chat else "/v1/completions"),
                json=body,
                headers=auth_headers(slot),
                timeout=httpx.Timeout(slot.read_timeout_s, connect=slot.connect_timeout_s),
            )
            resp.raise_for_status()
        try:
            choice = resp.json()["choices"][0]
            content = choice["message"].get("content") if chat else choice.get("text")
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            shape = "choices[0].message" if chat else "choices[0].text"
            raise BackendError(
                f"slot {slot.name!r} returned a completion without {shape}",
                hint="is the endpoint an OpenAI-compatible server?",
                slot=slot.name,
            ) from exc
        return content if isinstance(content, str) else ""
