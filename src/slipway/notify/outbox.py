"""A notifier's outbox: a bounded queue and the one task that works through it.

`notify` is called from controllers and request paths, so it only queues;
the task delivers in order, in the background. A delivery that raises is
logged and the next one goes on: a bug in one sink's formatting must not
silence every later notification. A full queue drops the newest and says so.
Whoever keeps the undelivered set in the store (so a killed process does not
lose it) is told through `on_change` each time that set changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from slipway.core.notifications import Notification

log = logging.getLogger("slipway.notify")


class Outbox:
    def __init__(
        self,
        what: str,
        deliver: Callable[[Notification], Awaitable[None]],
        *,
        max_queue: int = 1000,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._what = what
        self._deliver = deliver
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        #: Not delivered yet, oldest first: the one being delivered (retried, perhaps for an hour)
        #: then the queue. It stays first if the task is cancelled mid-delivery: `close` keeps it.
        self._pending: deque[Notification] = deque()
        self._on_change = on_change

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"slipway-{self._what}")

    def put(self, note: Notification) -> bool:
        """Queue `note`; False (and logged) when the queue is full and it was dropped."""
        try:
            self._queue.put_nowait(note)
        except asyncio.QueueFull:
            log.error("%s queue full; dropped notification: %s", self._what, note.title)
            return False
        self._pending.append(note)
        self._changed()
        return True

    def pending(self) -> list[Notification]:
        """What was not delivered yet, oldest (the one being delivered) first."""
        return list(self._pending)

    def _changed(self) -> None:
        if self._on_change is not None:
            try:
                self._on_change()
            except Exception:  # keeping a copy must never cost the delivery itself
                log.exception("%s: noting a change of the undelivered set failed", self._what)

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was delivered or given up on (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self, drain_s: float = 5.0) -> list[Notification]:
        """Deliver what is queued for up to `drain_s`, then stop; what was not delivered, oldest first.

        The one being retried when the drain ran out comes first: it may have
        reached the sink in its last attempt, so a later send can repeat it
        (at least once, never silently lost).
        """
        if self._task is not None:
            await self.flush(drain_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        left = list(self._pending)
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self._pending.clear()
        return left

    async def _run(self) -> None:
        while True:
            note = await self._queue.get()  # the first of `_pending`
            try:
                await self._deliver(note)
            except Exception:  # a bug here must not stop later notifications
                log.exception("%s delivery failed unexpectedly", self._what)
            self._pending.popleft()
            self._queue.task_done()
            self._changed()
