"""Run a smoke test against one slot directly, before any traffic moves to it."""

from __future__ import annotations

import asyncio

from slipway.core.errors import BackendError
from slipway.core.ports import SlotBackend
from slipway.core.types import Slot
from slipway.evals.smoke import CaseResult, SmokeCase, SmokeReport, check_output, summarize

CONCURRENCY = 4


async def run_smoke(backend: SlotBackend, slot: Slot, cases: list[SmokeCase]) -> SmokeReport:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(case: SmokeCase) -> CaseResult:
        async with gate:
            try:
                output = await backend.complete(slot, case.to_openai_request(slot.backend_model))
            except BackendError as exc:
                return check_output(case, None, exc.message)
            return check_output(case, output, None)

    results = await asyncio.gather(*(one(case) for case in cases))
    return summarize(list(results))
