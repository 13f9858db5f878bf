"""Show that a running vLLM loads a PEFT adapter: load it under a throwaway name, one prompt, unload.

The registry's file checks catch what can be seen in the files; only the
engine itself can say it loads the adapter on the base it serves. vLLM
loads adapters at run time into a server that may already carry traffic,
so the probe uses a name no slot routes to (`slipway-probe-<random>`), and
unloads it whatever happened; the path is the one the vLLM server sees
(the same machine, or a shared filesystem).
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import httpx

from slipway.backends.vllm import VllmBackend
from slipway.core.errors import BackendError
from slipway.core.types import BackendKind, Slot

PROBE_PREFIX = "slipway-probe-"


async def probe_vllm_adapter(
    endpoint: str,
    base: Path,
    adapter: Path,
    prompt: str,
    *,
    max_tokens: int = 8,
    api_key_env: str | None = None,
    request_timeout: float = 120.0,
) -> str:
    """The completion text with the adapter applied; BackendError (or a subclass) when vLLM cannot.

    `base` is not sent: vLLM serves one base, fixed at its start; the
    registry's `base-identity` check is what ties the adapter to it.
    """
    del base
    name = PROBE_PREFIX + secrets.token_hex(4)
    slot = Slot(
        name="adapter-probe",
        endpoint=endpoint.rstrip("/"),
        model=name,
        kind=BackendKind.VLLM,
        api_key_env=api_key_env,
        read_timeout_s=request_timeout,
    )
    async with httpx.AsyncClient() as client:
        backend = VllmBackend(client)
        await backend.load_adapter(slot, name, str(adapter.resolve()))
        try:
            text = await backend.complete(
                slot, {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
            )
        finally:
            # The answer (or its error) matters more; a leftover probe name serves no route.
            with contextlib.suppress(BackendError):
                await backend.unload_adapter(slot, name)
    return text
