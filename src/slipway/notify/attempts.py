"""One delivery to one sink, tried again with backoff: the loop the webhook and e-mail notifiers share.

A sink's `attempt` says whether it worked, what the other side answered
("HTTP 200", "250 2.0.0 queued"), and whether another try could help (a 400
from a webhook or a 5xx SMTP reply will not). The final result, and how many
attempts it took, become the `Delivery` that `slipway notifications` shows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from slipway.core.deliveries import Delivery, DeliverySink, Outcome
from slipway.core.notifications import Notification

log = logging.getLogger("slipway.notify")


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    #: What the sink answered, or what went wrong, in a few words.
    answer: str
    #: Retrying cannot help (the sink refused this message, or it is misconfigured).
    final: bool = False


@dataclass(frozen=True, slots=True)
class Tried:
    """How a delivery ended: the last attempt, how many were made, and the last problem met on the way."""

    last: Attempt
    attempts: int
    problem: str | None


async def with_retries(
    attempt: Callable[[], Awaitable[Attempt]], *, retries: int, backoff_s: float, where: str
) -> Tried:
    """Up to `retries + 1` attempts until one works or one says retrying cannot help; pauses double."""
    pause = backoff_s
    made = 0
    problem: str | None = None
    while True:
        made += 1
        result = await attempt()
        if not result.ok:
            problem = result.answer
        if result.ok or result.final or made > retries:
            return Tried(result, made, problem)
        log.warning("%s failed (%s); retry %d in %gs", where, result.answer, made, pause)
        await asyncio.sleep(pause)
        pause *= 2


def report(sink: DeliverySink | None, where: str, note: Notification, tried: Tried) -> None:
    """Hand the final outcome to the delivery log (if any), and log a failure for good."""
    if not tried.last.ok:
        log.error("%s failed for good (%s): %s", where, tried.last.answer, note.title)
    if sink is None:
        return
    sink.record(
        Delivery(
            sink=where,
            event=note.event,
            title=note.title,
            outcome=Outcome.DELIVERED if tried.last.ok else Outcome.FAILED,
            attempts=tried.attempts,
            error=tried.problem,
            at=time.time(),
        )
    )
