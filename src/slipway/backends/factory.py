"""One SlotBackend for every slot kind, sharing one HTTP client (STYLE habit 4)."""

from __future__ import annotations

from typing import Any

import httpx

from slipway.backends.engine.fleet import EngineFleet
from slipway.backends.llamacpp import LlamaCppBackend, engine_for
from slipway.backends.ollama import OllamaBackend
from slipway.backends.openai_compat import OpenAICompatBackend
from slipway.backends.release import BackendReleaser
from slipway.backends.vllm import VllmBackend
from slipway.core.lora import EngineDirectory, EngineInfo
from slipway.core.ports import SlotTokenizer
from slipway.core.types import BackendKind, RouteTable, Slot, SlotHealth


class SlotBackends:
    """Implements the SlotBackend port by dispatching on the slot's kind."""

    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        engines: EngineDirectory | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(transport=transport, timeout=30.0)
        self.engines = engines if engines is not None else EngineDirectory()
        self._openai = OpenAICompatBackend(self._client)
        self._llamacpp = LlamaCppBackend(self._client, self.engines)
        self._ollama = OllamaBackend(self._client)
        self.vllm = VllmBackend(self._client)

    @property
    def ollama(self) -> OllamaBackend:
        return self._ollama

    def _for(self, slot: Slot) -> OpenAICompatBackend | OllamaBackend:
        if slot.kind is BackendKind.OLLAMA:
            return self._ollama
        if slot.kind is BackendKind.VLLM:
            return self.vllm
        return self._llamacpp if slot.kind is BackendKind.LLAMACPP else self._openai

    async def engine(self, slot: Slot) -> EngineInfo:
        """The llama-server behind a llamacpp slot: its URL and adapter order (asked once, then cached)."""
        return await engine_for(self.engines, self._client, slot)

    async def check(self, slot: Slot) -> SlotHealth:
        return await self._for(slot).check(slot)

    def tokenizer(self, slot: Slot) -> SlotTokenizer | None:
        """The slot's engine's tokenizer, when its kind exposes one (llamacpp, vllm); else None."""
        backend = self._for(slot)
        return backend if isinstance(backend, SlotTokenizer) else None

    async def complete(self, slot: Slot, request: dict[str, Any]) -> str:
        return await self._for(slot).complete(slot, request)

    async def colocation_warnings(self, table: RouteTable, slot: Slot) -> list[str]:
        """What staging `slot` beside `table`'s slots will cost (core.colocation.ColocationAdvisor)."""
        return await self._ollama.colocation_warnings(table, slot)

    def releaser(self, fleet: EngineFleet) -> BackendReleaser:
        """Unloads and loads slots' models on their servers, through this client (core.ports.SlotReleaser)."""
        return BackendReleaser(self._client, self.vllm, fleet)

    async def close(self) -> None:
        await self._client.aclose()
