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

#: The longest pause between two attempts at one delivery.
MAX_PAUSE_S = 60.0


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
    attempt: Callable[[], Awaitable[Attempt]],
    *,
    retries: int,
    backoff_s: float,
    where: str,
    retry_for_s: float = 0.0,
    max_pause_s: float = MAX_PAUSE_S,
) -> Tried:
    """Attempts until one works, one says retrying cannot help, or both `retries + 1` attempts were
    made and `retry_for_s` passed since the first; pauses double up to `max_pause_s`.

    A sink that is down for minutes (a webhook receiver being redeployed, a
    mail server restarting) gets the notification when it is back, not never.
    """
    pause = backoff_s
    made = 0
    problem: str | None = None
    began = time.monotonic()
    while True:
        made += 1
        result = await attempt()
        if not result.ok:
            problem = result.answer
        out_of_time = time.monotonic() - began >= retry_for_s
        if result.ok or result.final or (made > retries and out_of_time):
            return Tried(result, made, problem)
        if made <= retries or made % 10 == 0:
            log.warning("%s failed (%s); retry %d in %gs", where, result.answer, made, pause)
        await asyncio.sleep(pause)
        pause = min(pause * 2, max_pause_s) if pause > 0 else 0.0


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
