"""The delivery log: each sink's final outcome, written to the store in the background.

Recording a delivery must never hold up or fail the notification it
describes, so `record` only appends to a bounded in-memory queue, and a task
of its own writes batches. A store that is down loses those records: they
are counted, and the outage is logged once (and its end once), not per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass

from slipway.core.deliveries import Delivery, DeliveryStore

log = logging.getLogger("slipway.notify")

#: Outcomes waiting for the store; beyond this the oldest are dropped (and counted as lost).
MAX_PENDING = 1000


@dataclass
class DeliveryLogStats:
    written: int = 0
    #: Records not kept: the store failed, or the queue overflowed while it was slow.
    lost: int = 0


class DeliveryLog:
    def __init__(self, *, max_pending: int = MAX_PENDING) -> None:
        self._pending: deque[Delivery] = deque()
        self._max = max_pending
        self._store: DeliveryStore | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self.stats = DeliveryLogStats()

    def record(self, delivery: Delivery) -> None:
        if len(self._pending) >= self._max:
            self._pending.popleft()
            self.stats.lost += 1
        self._pending.append(delivery)
        self._wake.set()

    def start(self, store: DeliveryStore) -> None:
        """Write to `store` from now on (it opens after the notifiers are built)."""
        self._store = store
        self._task = asyncio.create_task(self._run(), name="slipway-delivery-log")
        self._wake.set()

    async def flush(self) -> None:
        """Write what is pending now (tests, shutdown); a failure is counted, never raised."""
        if self._store is None or not self._pending:
            return
        batch = list(self._pending)
        self._pending.clear()
        try:
            await self._store.add_deliveries(batch)
        except Exception as exc:  # the store's outage must not reach a notifier
            self.stats.lost += len(batch)
            if not self._failing:
                self._failing = True
                log.error("notification deliveries are not being recorded (the store failed): %s", exc)
            return
        self.stats.written += len(batch)
        if self._failing:
            self._failing = False
            log.info("notification deliveries are recorded again; %d were lost", self.stats.lost)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
