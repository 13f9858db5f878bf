"""Batched, bounded writing off the hot path, for request records and shadow pairs alike.

The request path only appends to a deque; a background task writes batches
through a store port. When the buffer is full, new items are dropped and
counted rather than blocking a request or growing memory without bound.

The writer task must outlive anything a write can raise: once it stops,
every later request goes unrecorded while clients still get answers, and
whoever waits for a write (feedback, `slipway request`) waits forever. So a
failed write is never the end of the task, and never silently the end of
its items:

- the store cannot be reached (or stays busy): the batch is kept and retried
  with a growing pause, while new items queue up to the bound (beyond it they
  are dropped and counted);
- the store refused the data: the batch is split in halves until the refused
  items are alone, every other item is written, and each refused one is
  written again with its values brought within bounds (`repair`), or counted
  as lost with the reason;
- a store that refuses every write, whatever the rows, is treated as
  unavailable rather than split into thousands of single-row attempts.

Every item ends written or counted in `stats.lost` by reason, and `health()`
says whether the writer runs, what it holds, when it last wrote and why its
last write failed (`slipway status`, `/metrics`, `/readyz`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, TypeVar

from slipway.core.errors import SlipwayError, StoreUnavailable

log = logging.getLogger("slipway.recorder")

T = TypeVar("T")

#: Why an item was not written: the keys of `RecorderStats.lost`.
QUEUE_FULL = "queue_full"
REFUSED_BY_STORE = "refused_by_store"
UNWRITTEN_AT_STOP = "unwritten_at_stop"
WRITER_ERROR = "writer_error"

#: Longest `flush()` waits by default: feedback and reads wait on it, and must get an answer.
FLUSH_TIMEOUT_S = 10.0
#: Longest `close()` keeps retrying an unavailable store before counting what is left as lost.
CLOSE_TIMEOUT_S = 10.0
#: A write that has not returned by then is taken for a store that hangs (and retried later;
#: the store skips ids it already has, so a write that did land is not doubled).
WRITE_TIMEOUT_S = 60.0
#: The pause between retries to an unavailable store starts here and doubles up to the maximum.
FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 5.0
#: How long the store has to answer a probe after a refused write.
PROBE_TIMEOUT_S = 2.0
#: After a store refused a write, how recently it must have accepted one for a lone refused
#: item to be blamed on the item rather than on the store.
RECENT_SUCCESS_S = 60.0


@dataclass(slots=True)
class RecorderStats:
    #: Items accepted into the queue.
    queued: int = 0
    written: int = 0
    #: Items refused because the queue was full (also in `lost` as queue_full).
    dropped: int = 0
    #: Write attempts that failed; a batch that is retried or split fails more than once.
    write_failures: int = 0
    #: Items accepted and then not written: refused by the store even within bounds, or still
    #: unwritten when the writer had to stop.
    lost_in_failed_writes: int = 0
    #: Items written only after their values were brought within the columns' bounds.
    sanitised: int = 0
    #: Every item not written, by reason: queue_full, refused_by_store, unwritten_at_stop, and
    #: writer_error (a fault in the writer itself, logged with its traceback).
    lost: dict[str, int] = field(default_factory=dict)


class BatchWriter(Generic[T]):
    def __init__(
        self,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        what: str,
        max_queue: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.25,
        repair: Callable[[T], tuple[T, tuple[str, ...]]] | None = None,
        probe: Callable[[], Awaitable[None]] | None = None,
        write_timeout_s: float = WRITE_TIMEOUT_S,
    ) -> None:
        self._write = write
        self._what = what
        self._queue: deque[T] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval = flush_interval_s
        self._repair = repair
        self._probe = probe
        self._write_timeout = write_timeout_s
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._deadline = math.inf
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[asyncio.Future[None]] = []
        self._backoff = 0.0
        self._last_success = -math.inf
        self.stats = RecorderStats()
        #: When (epoch seconds) the last write succeeded, and the last failure and when it was.
        self.last_write_at: float | None = None
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        #: Since when the store has been unavailable to this writer (None while it writes).
        self.unavailable_since: float | None = None

    # -- the hot path ------------------------------------------------------------

    def record(self, item: T) -> None:
        """Called on the hot path: O(1), never awaits, never raises."""
        if self._closed:
            self.stats.queued += 1
            self._lose(1, UNWRITTEN_AT_STOP)
            return
        if self.pending >= self._max_queue:
            self.stats.dropped += 1
            self.stats.lost[QUEUE_FULL] = self.stats.lost.get(QUEUE_FULL, 0) + 1
            return
        self._queue.append(item)
        self.stats.queued += 1
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Items accepted and not yet written or lost (queued, or in a write under way)."""
        return self.stats.queued - self._resolved

    @property
    def _resolved(self) -> int:
        return self.stats.written + self.stats.lost_in_failed_writes

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    def health(self) -> dict[str, Any]:
        return {
            **asdict(self.stats),
            "pending": self.pending,
            "alive": self.alive,
            "last_write_at": self.last_write_at,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "store_unavailable_since": self.unavailable_since,
        }

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._spawn()

    def _spawn(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"slipway-writer-{self._what}")
        self._task.add_done_callback(self._on_task_done)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self._stopping.is_set():
            return
        # `_run` catches everything; this is the last line of defence against a bug there.
        exc = task.exception()
        log.critical("the %s writer stopped unexpectedly; restarting it", self._what, exc_info=exc)
        self._note_error(f"writer stopped unexpectedly: {exc!r}")
        self._spawn()

    async def flush(self, timeout: float = FLUSH_TIMEOUT_S) -> None:
        """Wait until everything queued so far is written or counted as lost (read-your-writes),
        for at most `timeout` seconds: a reader of an unavailable store must get its answer."""
        await self.written(timeout)

    async def written(self, timeout: float = FLUSH_TIMEOUT_S) -> bool:
        """Whether everything queued so far was written or counted as lost within `timeout` s.

        False when the store stayed unavailable, or the writer does not run.
        """
        target = self.stats.queued
        if self._resolved >= target:
            return True
        if self._task is None and not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), timeout)
            return self._resolved >= target
        self._wake.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._resolved < target:
            remaining = deadline - loop.time()
            if remaining <= 0 or not self.alive:
                return False
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, remaining)
            except TimeoutError:
                return False
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
        return True

    async def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        """Write what is queued, retrying an unavailable store for at most `timeout` seconds.

        Whatever is still unwritten then is counted as lost (unwritten_at_stop)
        and logged: a stop must not hang on a database that is gone.
        """
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                # The margin lets a write already under way finish after the deadline.
                await asyncio.wait_for(asyncio.shield(task), timeout + 1.0)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            except Exception:  # _run catches everything; never let a stop fail on it
                log.exception("the %s writer failed while stopping", self._what)
        elif self._queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(), timeout)
        self._closed = True
        self._queue.clear()
        left = self.pending
        if left:
            self._lose(left, UNWRITTEN_AT_STOP)
            log.error(
                "stopped with %d %s unwritten (the store was unavailable): they are lost; last error: %s",
                left,
                self._what,
                self.last_error,
            )
        self._notify()

    # -- the writer task -----------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                if not self._stopping.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
                self._wake.clear()
                if self._queue:
                    await self._drain()
                else:
                    await self._on_idle()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # A bug in this loop must cost at most one pause, never the writer.
                log.exception("the %s writer failed; it carries on", self._what)
                self._note_error(f"writer error: {exc!r}")
                await self._pause(self._interval)
            if self._stopping.is_set() and (not self._queue or self._past_deadline()):
                return

    async def _on_idle(self) -> None:
        """Called when a tick finds nothing to write (the Recorder refreshes its heartbeat)."""

    async def _drain(self) -> None:
        while self._queue:
            if self._stopping.is_set() and self._past_deadline():
                return
            n = min(len(self._queue), self._batch_size)
            batch = [self._queue.popleft() for _ in range(n)]
            try:
                keep = await self._write_batch(batch)
            except Exception:
                # A bug, not the store: whatever of this batch was not written yet is counted
                # now, so that nothing waits for it (the one batch in hand is all that is unresolved).
                self._lose(self.pending - len(self._queue), WRITER_ERROR)
                self._notify()
                raise
            self._notify()
            if keep:
                self._queue.extendleft(reversed(keep))
                await self._back_off(len(keep))
            elif self.unavailable_since is not None:
                log.warning(
                    "the store accepts %s again (unavailable for %.1f s)",
                    self._what,
                    time.time() - self.unavailable_since,
                )
                self.unavailable_since = None
                self._backoff = 0.0

    async def _write_batch(self, batch: list[T]) -> list[T]:
        """Write the batch; returns the items to keep for a retry (the store is unavailable)."""
        try:
            await self._attempt(batch)
            return []
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc, len(batch))
            if _unavailable(exc) or not await self._store_answers():
                return batch
        return await self._isolate(batch)

    async def _isolate(self, batch: list[T]) -> list[T]:
        """Split a refused batch until the refused items are alone; write all the others.

        If nothing at all can be written within a budget of failed attempts, the
        store is refusing everything (a broken schema, a full disk): the batch is
        kept and retried like an unavailable store's, rather than split to the end.
        """
        budget = 2 * math.ceil(math.log2(len(batch) + 1)) + 4
        failures = 0
        wrote_any = False
        suspects: list[tuple[T, str]] = []
        parts = _halves(batch)
        while parts:
            part = parts.pop()
            if len(part) == 1:
                try:
                    why = await self._write_single(part[0])
                except _StoreGone:
                    return [*part, *_flatten(parts), *(item for item, _ in suspects)]
                if why is None:
                    wrote_any = True
                else:
                    failures += 2
                    suspects.append((part[0], why))
                continue
            try:
                await self._attempt(part)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._failed(exc, len(part))
                failures += 1
                if _unavailable(exc) or (not wrote_any and failures > budget):
                    return [*part, *_flatten(parts), *(item for item, _ in suspects)]
                parts.extend(_halves(part))
                continue
            wrote_any = True
        recent = time.monotonic() - self._last_success < RECENT_SUCCESS_S
        if suspects and not (wrote_any or recent):
            return [item for item, _ in suspects]
        for _item, why in suspects:
            self._lose(1, REFUSED_BY_STORE)
            log.error("one of the %s could not be stored and is lost: %s", self._what, why)
        return []

    async def _write_single(self, item: T) -> str | None:
        """None when written, else why the store refused it; raises _StoreGone if it became unavailable."""
        try:
            await self._attempt([item])
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc, 1)
            if _unavailable(exc):
                raise _StoreGone from exc
            why = _why(exc)
        if self._repair is None:
            return why
        try:
            fixed, changes = self._repair(item)
        except Exception as exc:
            log.exception("could not bring one of the %s within bounds", self._what)
            return f"{why}; and it could not be brought within bounds ({exc!r})"
        if not changes:
            return why
        try:
            await self._attempt([fixed])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failed(exc, 1)
            if _unavailable(exc):
                raise _StoreGone from exc
            return f"{_why(exc)} (even with {'; '.join(changes)})"
        self.stats.sanitised += 1
        log.warning(
            "stored one of the %s only after changing it: %s (%s)", self._what, "; ".join(changes), why
        )
        return None

    async def _attempt(self, part: Sequence[T]) -> None:
        await asyncio.wait_for(self._write(part), self._write_timeout)
        self.stats.written += len(part)
        self.last_write_at = time.time()
        self._last_success = time.monotonic()

    async def _store_answers(self) -> bool:
        if self._probe is None:
            return True
        try:
            await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_S)
        except asyncio.CancelledError:
            raise
        except Exception:
            return False
        return True

    async def _back_off(self, kept: int) -> None:
        if self.unavailable_since is None:
            self.unavailable_since = time.time()
            log.error(
                "the store is not accepting %s; keeping %d and retrying (%s)",
                self._what,
                kept,
                self.last_error,
            )
        self._backoff = min(max(self._backoff * 2, FIRST_BACKOFF_S), MAX_BACKOFF_S)
        await self._pause(self._backoff)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once for a stop (which then retries until its deadline)."""
        if self._stopping.is_set():
            left = self._deadline - asyncio.get_running_loop().time()
            await asyncio.sleep(max(0.0, min(seconds, left)))
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _past_deadline(self) -> bool:
        return asyncio.get_running_loop().time() >= self._deadline

    # -- bookkeeping ---------------------------------------------------------------

    def _failed(self, exc: BaseException, items: int) -> None:
        self.stats.write_failures += 1
        if isinstance(exc, SlipwayError):
            # The store's own words already say what failed where.
            self._note_error(exc.message)
            log.debug("write of %d %s failed: %s", items, self._what, exc)
        elif isinstance(exc, TimeoutError):
            message = f"could not write {items} {self._what}: no answer within {self._write_timeout:g} s"
            self._note_error(message)
            log.debug("%s", message)
        else:
            # Not one of the store's errors: a bug somewhere, so keep its traceback.
            self._note_error(f"could not write {items} {self._what}: {type(exc).__name__}: {exc}")
            log.error("write of %d %s failed", items, self._what, exc_info=exc)

    def _note_error(self, message: str) -> None:
        self.last_error = message
        self.last_error_at = time.time()

    def _lose(self, n: int, reason: str) -> None:
        self.stats.lost[reason] = self.stats.lost.get(reason, 0) + n
        self.stats.lost_in_failed_writes += n

    def _notify(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


class _StoreGone(Exception):
    """The store became unavailable in the middle of isolating refused items: keep them all."""


def _why(exc: BaseException) -> str:
    return exc.message if isinstance(exc, SlipwayError) else f"{type(exc).__name__}: {exc}"


def _unavailable(exc: BaseException) -> bool:
    return isinstance(exc, StoreUnavailable | TimeoutError | ConnectionError)


def _halves(part: list[T]) -> list[list[T]]:
    """The two halves of `part`, in the order `list.pop()` takes them: first half first."""
    mid = len(part) // 2
    return [part[mid:], part[:mid]]


def _flatten(parts: list[list[T]]) -> list[T]:
    """The items of a stack of parts, in their original order (the stack's top is first)."""
    return [item for part in reversed(parts) for item in part]
