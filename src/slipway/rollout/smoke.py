"""Run a smoke test against one slot directly, before any traffic moves to it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from slipway.core.errors import BackendError
from slipway.core.ports import SlotBackend
from slipway.core.types import Slot
from slipway.evals.smoke import CaseResult, SmokeCase, SmokeReport, check_output, summarize

CONCURRENCY = 4


async def run_smoke(
    backend: SlotBackend, slot: Slot, cases: list[SmokeCase], *, answered: Callable[[], None] | None = None
) -> SmokeReport:
    """`answered()` is called as each case is answered (an evaluation's progress)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(case: SmokeCase) -> CaseResult:
        async with gate:
            try:
                output = await backend.complete(slot, case.to_openai_request(slot.backend_model))
            except BackendError as exc:
                result = check_output(case, None, exc.message)
            else:
                result = check_output(case, output, None)
        if answered is not None:
            answered()
        return result

    results = await asyncio.gather(*(one(case) for case in cases))
    return summarize(list(results))
