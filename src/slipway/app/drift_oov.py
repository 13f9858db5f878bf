"""The out-of-vocabulary dimension of drift: samples of inputs, tokenized by the active slot's own engine.

The rate cannot be read from the text: only the engine knows which words
its tokenizer lacks. So the leader asks it, off the request path, for a
random sample of at most `drift.oov_sample` inputs per side, a few at a time
so a comparison never crowds out the requests the engine is serving. An
engine that cannot tokenize (its kind has no tokenizer, or it failed) makes
the dimension "not judged", with the reason, and costs the other
dimensions nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from slipway.analysis.input_profile import oov_counts
from slipway.core.errors import BackendError
from slipway.core.ports import SlotTokenizer
from slipway.core.tokens import Tokenized
from slipway.core.types import Slot

log = logging.getLogger("slipway.drift")

#: Store meta key prefix: a reference's inputs per out-of-vocabulary bin (+ the reference's own key).
REFERENCE_OOV_PREFIX = "drift.reference_oov:"
#: The sample's seed: a check repeated on the same inputs measures the same ones.
SAMPLE_SEED = 0
#: Inputs tokenized at once: the engine serves users meanwhile.
CONCURRENCY = 4

T = TypeVar("T")


def sample_of(items: Sequence[T], limit: int) -> list[T]:
    """At most `limit` of `items`, drawn at random but the same ones every time for the same items.

    Random rather than every n-th: traffic with a period (a batch job, a
    client's round-robin) would otherwise be sampled in step with it.
    """
    if len(items) <= limit:
        return list(items)
    picked = random.Random(SAMPLE_SEED).sample(range(len(items)), limit)
    return [items[i] for i in sorted(picked)]


def not_tokenizable(slot: Slot) -> str:
    """Why a slot without a tokenizer is not judged on this dimension, in words."""
    return (
        f"slot {slot.name}'s engine ({slot.kind}) does not expose its tokenizer; llamacpp and vllm slots do"
    )


async def measure(
    tokenizer: SlotTokenizer, slot: Slot, texts: Sequence[str], limit: int
) -> dict[str, int] | str:
    """Inputs per out-of-vocabulary bin over a random sample of `texts`; else why not, in words."""
    sample = sample_of(texts, limit)
    sem = asyncio.Semaphore(CONCURRENCY)

    async def one(text: str) -> Tokenized:
        if not text:
            return Tokenized(0, 0)
        async with sem:
            return await tokenizer.tokenize(slot, text)

    failed: list[BackendError] = []

    async def guarded(text: str) -> float:
        try:
            return (await one(text)).oov_rate
        except BackendError as exc:
            failed.append(exc)
            raise

    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(guarded(text)) for text in sample]
    except* BackendError:
        pass  # each one is in `failed`, the first said below; the others were cancelled
    if failed:
        log.warning("drift: could not tokenize %s's inputs: %s", slot.name, failed[0].message)
        return f"the engine could not tokenize: {failed[0].message}"
    return oov_counts(task.result() for task in tasks)


class Meta(Protocol):
    """Where a reference's measured rates are kept (the store's meta table)."""

    async def get_meta(self, key: str) -> str | None: ...

    async def set_meta(self, key: str, value: str) -> None: ...


class OovMeter:
    """Measures both sides of a comparison; the reference's side once per reference, kept in the store."""

    def __init__(self, meta: Meta, tokenizer: Callable[[Slot], SlotTokenizer | None]) -> None:
        self._meta = meta
        self._tokenizer = tokenizer

    async def both(
        self,
        slot: Slot,
        reference_key: str,
        reference_texts: Callable[[], Awaitable[Sequence[str]]],
        live_texts: Sequence[str],
        limit: int,
    ) -> tuple[dict[str, int], dict[str, int]] | str:
        """(reference, live) inputs per bin; else why the dimension is not judged, in words."""
        if limit == 0:
            return "not measured (drift.oov_sample is 0)"
        tokenizer = self._tokenizer(slot)
        if tokenizer is None:
            return not_tokenizable(slot)
        key = f"{REFERENCE_OOV_PREFIX}{reference_key}"
        raw = await self._meta.get_meta(key)
        reference: dict[str, int] | str
        if raw:
            reference = {str(k): int(v) for k, v in json.loads(raw).items()}
        else:
            reference = await measure(tokenizer, slot, await reference_texts(), limit)
            if isinstance(reference, str):
                return reference
            await self._meta.set_meta(key, json.dumps(reference))
        live = await measure(tokenizer, slot, live_texts, limit)
        if isinstance(live, str):
            return live
        return reference, live
