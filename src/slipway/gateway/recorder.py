"""Batched, bounded writing off the hot path: request records (GW2, GW4) and shadow pairs (SH1).

The request path only appends to a deque; a background task writes batches
through a store port. When the buffer is full, new items are dropped and
counted rather than blocking a request or growing memory without bound, and
the counters are shown by `slipway status`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from slipway.core.errors import SlipwayError
from slipway.core.ports import RecordStore
from slipway.core.records import RequestRecord
from slipway.gateway.metrics import TrafficMetrics

log = logging.getLogger("slipway.recorder")

T = TypeVar("T")


@dataclass(slots=True)
class RecorderStats:
    queued: int = 0
    written: int = 0
    dropped: int = 0
    write_failures: int = 0
    lost_in_failed_writes: int = 0


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        what: str,
        max_queue: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.25,
    ) -> None:
        self._write = write
        self._what = what
        self._queue: deque[T] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.stats = RecorderStats()

    def record(self, item: T) -> None:
        """Called on the hot path: O(1), never awaits, never raises."""
        if len(self._queue) >= self._max_queue:
            self.stats.dropped += 1
            return
        self._queue.append(item)
        self.stats.queued += 1
        self._idle.clear()
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"slipway-writer-{self._what}")

    async def _run(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self._drain()

    async def _drain(self) -> None:
        while self._queue:
            n = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(n)]
            try:
                await self._write(batch)
                self.stats.written += len(batch)
            except SlipwayError as exc:
                self.stats.write_failures += 1
                self.stats.lost_in_failed_writes += len(batch)
                log.error("could not write %d %s: %s", len(batch), self._what, exc)
        self._idle.set()

    async def flush(self) -> None:
        """Write everything queued so far (feedback and tests need read-your-writes)."""
        if not self._queue:
            await self._idle.wait()
            return
        self._wake.set()
        await self._idle.wait()
        if self._queue:
            await self._drain()

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._drain()


class Recorder(BatchWriter[RequestRecord]):
    """One record per request, written in batches through the RecordStore port, and counted for /metrics."""

    def __init__(
        self,
        sink: RecordStore,
        *,
        max_queue: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.25,
        metrics: TrafficMetrics | None = None,
    ) -> None:
        super().__init__(
            sink.write_records,
            what="request records",
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
        )
        self.metrics = metrics

    def record(self, item: RequestRecord) -> None:
        if self.metrics is not None:
            self.metrics.observe(item)
        super().record(item)
