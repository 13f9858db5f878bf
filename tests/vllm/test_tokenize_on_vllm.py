"""The engine's own tokenizer, as drift's out-of-vocabulary rate reads it, on a real vLLM.

The tiny model's tokenizer is byte-level BPE: every input splits into known
tokens, so nothing is out of vocabulary however foreign the words are. That
is the documented blind spot of byte-level tokenizers; what this pins is
that slipway reads vLLM's real `/tokenize` answer (not only its documented
shape) and counts its tokens the way the engine does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.vllm_server import BASE_NAME, VllmServer

from slipway.backends.vllm import VllmBackend
from slipway.core.types import BackendKind, Slot


@pytest.fixture
async def backend() -> AsyncIterator[VllmBackend]:
    async with httpx.AsyncClient() as client:
        yield VllmBackend(client)


async def test_inputs_are_counted_in_the_engines_own_tokens(vllm: VllmServer, backend: VllmBackend) -> None:
    slot = Slot(name="blue", endpoint=vllm.url, model=BASE_NAME, kind=BackendKind.VLLM)
    for text in ("i was charged twice for invoice 4411", "Überweisung fünf 😀", ""):
        got = await backend.tokenize(slot, text)
        r = httpx.post(
            f"{vllm.url}/tokenize",
            json={"model": BASE_NAME, "prompt": text, "add_special_tokens": False},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        assert got.tokens == r.json()["count"], text
        assert got.unknown == 0 and got.oov_rate == 0.0
    assert (await backend.tokenize(slot, "a b")).tokens < (await backend.tokenize(slot, "a b " * 50)).tokens
