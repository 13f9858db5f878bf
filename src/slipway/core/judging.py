"""Judging many shadow pairs with any `PreferenceJudge`, where one bad pair never sinks the rest.

A report judges a sample of pairs (`JudgeConfig.max_pairs`); a judge that
times out, answers garbage or raises on one of them must leave that pair
unjudged and say why, not lose the verdicts already collected. The helper
lives in core, beside the port, so that whatever runs a report (the admin
API, the CLI, a controller) can use it with any judge implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from slipway.core.ports import PreferenceJudge
from slipway.core.shadow import Preference

#: (pair_id, request_text, production answer, candidate answer).
JudgeItem = tuple[str, str, str, str]


async def judge_many(
    judge: PreferenceJudge, items: Iterable[JudgeItem], *, limit: int | None = None
) -> dict[str, Preference]:
    """Every pair's Preference by pair id, in the order given; a pair whose judging raised gets
    `Preference(None, why)`.

    `limit` bounds the pairs in flight here; a judge may bound its own calls
    further (LlmJudge does). A pair id given twice is judged once.
    """
    unique: dict[str, JudgeItem] = {}
    for item in items:
        unique.setdefault(item[0], item)
    gate = asyncio.Semaphore(limit) if limit is not None and limit > 0 else None

    async def one(item: JudgeItem) -> Preference:
        _, request_text, production, candidate = item
        try:
            if gate is None:
                return await judge.prefer(request_text, production, candidate)
            async with gate:
                return await judge.prefer(request_text, production, candidate)
        except Exception as exc:  # one pair's failure is reported on that pair, never raised
            return Preference(None, f"the judge failed on this pair: {type(exc).__name__}: {exc}")

    results = await asyncio.gather(*(one(item) for item in unique.values()))
    return dict(zip(unique, results, strict=True))
