"""llama.cpp's llama-server: OpenAI-compatible, plus per-request LoRA selection.

A llamacpp slot names an adapter; which engine id that is depends on the
order the engine loaded its adapters in. For engines slipway runs, the
runtime publishes that order when it starts them. For a llama-server someone
else runs, it is read once from `GET /lora-adapters` and cached in the same
`EngineDirectory` the gateway reads per request.
"""

from __future__ import annotations

from typing import Any

import httpx

from slipway.backends.http_errors import backend_errors
from slipway.backends.openai_compat import OpenAICompatBackend, auth_headers
from slipway.backends.tokenize import llamacpp_request, read_llamacpp
from slipway.core.errors import BackendError, BackendUnavailable, NotFoundError
from slipway.core.lora import EngineDirectory, EngineInfo, is_engine_endpoint
from slipway.core.tokens import MAX_TOKENIZE_CHARS, Tokenized
from slipway.core.types import Slot, SlotHealth


async def discover_engine(client: httpx.AsyncClient, slot: Slot) -> EngineInfo:
    """Ask a running llama-server which adapters it loaded (`GET /lora-adapters`, ids in order)."""
    with backend_errors(slot, "listing LoRA adapters"):
        resp = await client.get(
            slot.endpoint + "/lora-adapters", headers=auth_headers(slot), timeout=slot.connect_timeout_s + 5
        )
        resp.raise_for_status()
    try:
        entries = sorted(resp.json(), key=lambda e: int(e["id"]))
        paths = tuple(str(e["path"]) for e in entries)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackendError(
            f"slot {slot.name!r}: GET /lora-adapters did not return llama-server's adapter list",
            hint="is this endpoint llama.cpp's llama-server? use kind: openai for other servers",
            slot=slot.name,
        ) from exc
    return EngineInfo(url=slot.endpoint, adapters=paths)


async def engine_for(directory: EngineDirectory, client: httpx.AsyncClient, slot: Slot) -> EngineInfo:
    info = directory.get(slot.endpoint)
    if info is not None:
        return info
    if is_engine_endpoint(slot.endpoint):
        raise BackendUnavailable(
            f"slot {slot.name!r}: engine {slot.endpoint} is not running",
            hint="it starts with `slipway serve`; see `slipway status` and the engine log under .slipway/",
            slot=slot.name,
        )
    info = await discover_engine(client, slot)
    directory.publish(slot.endpoint, info)
    return info


class LlamaCppBackend(OpenAICompatBackend):
    def __init__(self, client: httpx.AsyncClient, engines: EngineDirectory) -> None:
        super().__init__(client)
        self._engines = engines

    async def base_url(self, slot: Slot) -> str:
        return (await engine_for(self._engines, self._client, slot)).url

    async def request_extras(self, slot: Slot) -> dict[str, Any]:
        info = await engine_for(self._engines, self._client, slot)
        try:
            return {"lora": info.lora_for(slot.adapter, where=f"slot {slot.name!r} ({slot.endpoint})")}
        except NotFoundError as exc:
            raise BackendError(exc.message, hint=exc.hint, slot=slot.name) from exc

    async def check(self, slot: Slot) -> SlotHealth:
        try:
            info = await engine_for(self._engines, self._client, slot)
            if slot.adapter is not None:
                info.lora_for(slot.adapter, where=f"engine {slot.endpoint}")
        except BackendError as exc:
            return SlotHealth(reachable=False, model_available=False, detail=exc.message)
        except NotFoundError as exc:
            return SlotHealth(reachable=True, model_available=False, detail=f"{exc.message}. {exc.hint}")
        try:
            with backend_errors(slot, "checking health"):
                resp = await self._client.get(info.url + "/health", timeout=slot.connect_timeout_s + 5)
        except BackendError as exc:
            return SlotHealth(reachable=False, model_available=False, detail=exc.message)
        if resp.status_code == 503:
            return SlotHealth(True, False, "llama-server is still loading the model")
        if resp.status_code != 200:
            return SlotHealth(True, False, f"llama-server /health answered HTTP {resp.status_code}")
        adapter = f" with adapter {slot.adapter}" if slot.adapter else " (base model, adapters at 0)"
        return SlotHealth(True, True, f"llama-server ready{adapter}", ())

    async def tokenize(self, slot: Slot, text: str) -> Tokenized:
        """The engine's own split of `text` (`POST /tokenize` with pieces); the adapter does not change it."""
        url = await self.base_url(slot)
        with backend_errors(slot, "tokenizing an input"):
            resp = await self._client.post(
                url + "/tokenize",
                json=llamacpp_request(text[:MAX_TOKENIZE_CHARS]),
                headers=auth_headers(slot),
                timeout=slot.connect_timeout_s + 5,
            )
            resp.raise_for_status()
        try:
            body = resp.json()
        except ValueError:
            body = None
        return read_llamacpp(slot, body)
