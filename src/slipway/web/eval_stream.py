"""An evaluation's answer as it goes: progress lines, then the result, over one streamed response.

A suite of thousands of cases against a slow engine runs for longer than
any client or proxy waits for a silent answer. Streamed as JSON lines, the
client sees how far it has got (at most a few lines a second), a line at
least every `HEARTBEAT_S` while an engine is slow, and the result last. The
run is a task of its own: a client that disconnects (Ctrl-C, a dropped
connection) does not stop it, and it is stored as it ends, like any run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import orjson

from slipway.core.errors import SlipwayError
from slipway.core.lifecycle import EvalProgress, EvalRunRecord

log = logging.getLogger("slipway.evals")

#: The media type a client asks for (Accept) to get the streamed answer.
NDJSON = "application/x-ndjson"
#: Longest silence on the stream: a line saying the run is alive when no answer came in this long.
HEARTBEAT_S = 10.0
#: Shortest gap between two progress lines.
EVERY_S = 0.25

#: Runs whose client may be gone: kept referenced until they end (an unreferenced task can vanish).
_running: set[asyncio.Task[list[EvalRunRecord]]] = set()

Work = Callable[[Callable[[EvalProgress], None]], Coroutine[Any, Any, list[EvalRunRecord]]]


def _line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


def _ended(task: asyncio.Task[list[EvalRunRecord]]) -> None:
    """Say how a run ended in the log, whether or not a client was still there to hear it."""
    _running.discard(task)
    if task.cancelled():
        log.warning("an evaluation run was cancelled (the server is stopping)")
        return
    exc = task.exception()
    if isinstance(exc, SlipwayError):
        log.warning("an evaluation run failed: %s", exc)
    elif exc is not None:
        log.error("an evaluation run failed unexpectedly", exc_info=exc)


async def stream_run(
    work: Work, result: Callable[[list[EvalRunRecord]], dict[str, Any]]
) -> AsyncIterator[bytes]:
    """`{"progress": …}` lines, `{"alive": true}` in long silences, then `{"result": …}` or `{"error": …}`."""
    latest: list[EvalProgress] = []
    changed = asyncio.Event()

    def progress(p: EvalProgress) -> None:
        latest[:] = [p]
        changed.set()

    task = asyncio.create_task(work(progress), name="slipway-eval-run")
    _running.add(task)
    task.add_done_callback(_ended)
    sent: EvalProgress | None = None
    while not task.done():
        changed.clear()
        waiter = asyncio.create_task(changed.wait())
        try:
            await asyncio.wait({task, waiter}, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        now = latest[0] if latest else None
        if now is not None and now != sent:
            sent = now
            yield _line({"progress": now.to_dict()})
            await asyncio.sleep(EVERY_S)
        elif not task.done():
            yield _line({"alive": True})
    if latest and latest[0] != sent:
        yield _line({"progress": latest[0].to_dict()})
    if task.cancelled():
        yield _line({"error": {"message": "the evaluation was stopped: the server is shutting down"}})
        return
    exc = task.exception()
    if isinstance(exc, SlipwayError):
        yield _line({"error": exc.to_dict()})
    elif exc is not None:
        message = (
            f"the evaluation failed inside slipway ({type(exc).__name__}); the server log has the details"
        )
        yield _line({"error": {"message": message}})
    else:
        yield _line({"result": result(task.result())})
