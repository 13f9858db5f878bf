"""The checklist's latency item: the same requests sent to both slots' backends directly, timed in pairs.

Directly, not through the gateway: the replay must not count as traffic in
any canary, bake or drift window. In pairs and one at a time, alternating
which slot goes first, so a busy moment or a warm cache falls on both sides
alike. The requests are production's own recent ones where their bodies
were kept, else the smoke cases; each is cut to a short, deterministic,
non-streaming request, since the replay times the servers, not the answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from slipway.core.checklist_items import LatencyReplay
from slipway.core.errors import BackendError
from slipway.core.ports import SlotBackend
from slipway.core.types import Slot

#: Longest answer asked for in the replay: enough to time generation, short enough to keep it quick.
REPLAY_MAX_TOKENS = 32


def replay_request(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """An OpenAI request from a recorded body (OpenAI or Ollama shape); None when it has no input."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and all(isinstance(m, dict) for m in messages):
        clean = [
            {"role": str(m.get("role", "user")), "content": m["content"]}
            for m in messages
            if isinstance(m.get("content"), str)
        ]
        if clean:
            return {"messages": clean, "temperature": 0, "max_tokens": REPLAY_MAX_TOKENS, "stream": False}
    prompt = body.get("prompt")
    if isinstance(prompt, str) and prompt:
        return {"prompt": prompt, "temperature": 0, "max_tokens": REPLAY_MAX_TOKENS, "stream": False}
    return None


async def paired_replay(
    backend: SlotBackend,
    candidate: Slot,
    production: Slot,
    requests: Sequence[dict[str, Any]],
    *,
    source: str,
    budget_s: float,
    timer: Callable[[], float] = time.perf_counter,
) -> LatencyReplay:
    """Time each request on both slots; stop at `budget_s` and judge the pairs answered by then."""
    cand_ms: list[float] = []
    prod_ms: list[float] = []
    failed = 0
    problem: str | None = None

    async def timed(slot: Slot, request: dict[str, Any]) -> float:
        start = timer()
        await backend.complete(slot, {**request, "model": slot.backend_model})
        return (timer() - start) * 1000.0

    async def run() -> None:
        nonlocal failed, problem
        # One untimed request to each first: a cold connection or an empty prompt cache is not latency.
        for slot in (candidate, production):
            with contextlib.suppress(BackendError):
                await timed(slot, requests[0])
        for i, request in enumerate(requests):
            order = (candidate, production) if i % 2 == 0 else (production, candidate)
            try:
                times = {slot.name: await timed(slot, request) for slot in order}
            except BackendError as exc:
                failed += 1
                problem = exc.message[:200]
                continue
            cand_ms.append(times[candidate.name])
            prod_ms.append(times[production.name])

    try:
        await asyncio.wait_for(run(), timeout=budget_s)
    except TimeoutError:
        problem = problem or f"the replay stopped at its {budget_s:g} s budget"
    return LatencyReplay(cand_ms, prod_ms, source, failed=failed, problem=problem)
