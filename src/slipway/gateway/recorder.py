"""Request records: one per request, written by a `BatchWriter`, with a heartbeat for crash reports.

With each record goes what the request asked (`RequestInput`) when the
gateway keeps inputs: both are written in the record's own transaction, so a
record and its input are stored together or not at all, and a batch that is
retried, split or repaired carries its inputs with it.

Each batch also rewrites a heartbeat in the store (a meta key, in the batch's
own transaction) with this process's counters, marked clean on a clean stop:
a process killed without one leaves a heartbeat that says how many records it
held unwritten, which the next start reports (`previous_run_report`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from slipway.core.lifecycle import RequestInput
from slipway.core.ports import MetaStore, RecordStore
from slipway.core.record_bounds import fit_input, fit_record
from slipway.core.records import RequestRecord
from slipway.gateway.batch_writer import CLOSE_TIMEOUT_S, PROBE_TIMEOUT_S, BatchWriter
from slipway.gateway.metrics import TrafficMetrics

log = logging.getLogger("slipway.recorder")

#: The meta key under which a gateway leaves its heartbeat: `.{host}:{port}` is appended.
HEARTBEAT_KEY = "recorder.heartbeat"
#: The request rate in a heartbeat is measured over at least this long.
RATE_WINDOW_S = 1.0


class RecordSink(RecordStore, MetaStore, Protocol):
    """What the recorder needs of the store: batches with a checkpoint, a probe, its meta keys."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request as the recorder queues it: its record, and what it asked when that is kept."""

    record: RequestRecord
    inputs: RequestInput | None = None


def fit_recorded(item: Recorded) -> tuple[Recorded, tuple[str, ...]]:
    """A refused request brought within the columns' bounds: its record and its input alike."""
    record, changes = fit_record(item.record)
    inputs = item.inputs
    if inputs is not None:
        inputs, more = fit_input(inputs)
        changes += more
    if not changes:
        return item, ()
    return Recorded(record, inputs), changes


class Recorder(BatchWriter[Recorded]):
    """One record per request, written in batches through the RecordStore port, and counted for /metrics.

    A refused record is stored with its values brought within `core.record_bounds`.
    Each batch also rewrites a heartbeat (a meta key, in the batch's own
    transaction) with this process's counters, marked clean on a clean stop:
    a process killed without one leaves a heartbeat that says how many records
    it held unwritten, which the next start reports (`previous_run`).
    """

    def __init__(
        self,
        sink: RecordSink,
        *,
        instance: str = "default",
        max_queue: int = 100_000,
        batch_size: int = 1_000,
        flush_interval_s: float = 0.25,
        metrics: TrafficMetrics | None = None,
    ) -> None:
        super().__init__(
            self._write_part,
            what="request records",
            max_queue=max_queue,
            batch_size=batch_size,
            flush_interval_s=flush_interval_s,
            repair=fit_recorded,
            probe=sink.ping,
        )
        self._sink = sink
        self.metrics = metrics
        self._key = f"{HEARTBEAT_KEY}.{instance}"
        self._run_id = os.urandom(8).hex()
        self._host = socket.gethostname()
        self._started_at = time.time()
        self._opened = False
        #: (time.monotonic(), queued) at each stored heartbeat, for the request rate.
        self._marks: deque[tuple[float, int]] = deque()
        self._heartbeat_rate = 0.0
        self._pending_rate = 0.0
        #: What the previous process that used this store (and host and port) left: None if
        #: none did; `clean` False when it stopped without a clean stop (killed, crashed).
        self.previous_run: dict[str, Any] | None = None

    def record(self, item: RequestRecord | Recorded, inputs: RequestInput | None = None) -> None:
        """Queue one request's record, with what it asked when `inputs` is given (the hot path)."""
        entry = item if isinstance(item, Recorded) else Recorded(item, inputs)
        if self.metrics is not None:
            self.metrics.observe(entry.record)
        super().record(entry)

    def health(self) -> dict[str, Any]:
        return {**super().health(), "previous_run": self.previous_run}

    async def open(self) -> None:
        """Report how the previous run ended, and leave this run's first heartbeat.

        Raises StoreError when the store cannot be read or written (at start, that
        is a store the gateway cannot run on).
        """
        self.previous_run = previous_run_report(await self._sink.get_meta(self._key))
        prev = self.previous_run
        if prev is not None and not prev["clean"]:
            log.warning("%s", describe_unclean_stop(prev))
        self._marks.append((time.monotonic(), 0))
        await self._sink.write_records([], checkpoint=(self._key, self._heartbeat(written=0)))
        self._opened = True

    async def close(self, timeout: float = CLOSE_TIMEOUT_S) -> None:
        if self._closed:
            return
        await super().close(timeout)
        if not self._opened:
            return
        clean = self._heartbeat(written=self.stats.written, clean=True)
        try:
            await asyncio.wait_for(
                self._sink.write_records([], checkpoint=(self._key, clean)), PROBE_TIMEOUT_S
            )
        except Exception as exc:
            log.error("could not mark this run's stop as clean in the store: %s", exc)

    async def _write_part(self, part: Sequence[Recorded]) -> None:
        heartbeat = self._heartbeat(written=self.stats.written + len(part))
        records = [item.record for item in part]
        inputs = [item.inputs for item in part if item.inputs is not None]
        await self._sink.write_records(records, checkpoint=(self._key, heartbeat), inputs=inputs)
        self._stored_heartbeat()

    async def _on_idle(self) -> None:
        # Once traffic stops, say so: otherwise the last heartbeat's rate would make a later
        # crash look like it cost records that were never sent.
        if not self._opened or self._heartbeat_rate == 0.0 or not self._marks:
            return
        if time.monotonic() - self._marks[-1][0] < RATE_WINDOW_S:
            return
        try:
            heartbeat = self._heartbeat(written=self.stats.written)
            await asyncio.wait_for(
                self._sink.write_records([], checkpoint=(self._key, heartbeat)), self._write_timeout
            )
        except Exception as exc:
            self._note_error(f"could not write the heartbeat: {exc}")
            return
        self._stored_heartbeat()

    def _heartbeat(self, *, written: int, clean: bool = False) -> str:
        now = time.monotonic()
        self._pending_rate = self._rate(now)
        return json.dumps(
            {
                "run": self._run_id,
                "pid": os.getpid(),
                "host": self._host,
                "started_at": self._started_at,
                "updated_at": time.time(),
                "clean": clean,
                "queued": self.stats.queued,
                "written": written,
                "lost": self.stats.lost_in_failed_writes,
                "dropped": self.stats.dropped,
                "sanitised": self.stats.sanitised,
                "rate_per_s": round(self._pending_rate, 3),
                "flush_interval_s": self._interval,
                "batch_size": self._batch_size,
            }
        )

    def _rate(self, now: float) -> float:
        """Records queued per second since the newest heartbeat at least RATE_WINDOW_S old."""
        if not self._marks:
            return 0.0
        base = self._marks[0]
        for mark in self._marks:
            if mark[0] > now - RATE_WINDOW_S:
                break
            base = mark
        return max(self.stats.queued - base[1], 0) / max(now - base[0], self._interval, 1e-3)

    def _stored_heartbeat(self) -> None:
        now = time.monotonic()
        self._heartbeat_rate = self._pending_rate
        self._marks.append((now, self.stats.queued))
        while len(self._marks) > 1 and self._marks[1][0] <= now - RATE_WINDOW_S:
            self._marks.popleft()


def previous_run_report(text: str | None) -> dict[str, Any] | None:
    """What a heartbeat left by an earlier process says about how it ended."""
    if not text:
        return None
    try:
        beat = json.loads(text)
        clean = bool(beat["clean"])
        queued, written, lost = int(beat["queued"]), int(beat["written"]), int(beat.get("lost", 0))
        rate = float(beat.get("rate_per_s", 0.0))
        interval = float(beat.get("flush_interval_s", 0.25))
    except (ValueError, TypeError, KeyError):
        return {"clean": False, "unreadable": True, "unwritten_at_last_write": 0, "probably_lost": 0}
    unwritten = 0 if clean else max(queued - written - lost, 0)
    # Records queued after the last write would have gone in the next one, within a flush interval.
    after = 0 if clean or not math.isfinite(rate) else math.ceil(max(rate, 0.0) * interval)
    return {
        "clean": clean,
        "pid": beat.get("pid"),
        "host": beat.get("host"),
        "started_at": beat.get("started_at"),
        "last_write_at": beat.get("updated_at"),
        "written": written,
        "lost": lost,
        "dropped": int(beat.get("dropped", 0)),
        "rate_per_s": rate,
        "flush_interval_s": interval,
        "unwritten_at_last_write": unwritten,
        "probably_lost": unwritten + after,
    }


def describe_unclean_stop(prev: dict[str, Any]) -> str:
    if prev.get("unreadable"):
        return "the previous run left a heartbeat this slipway cannot read; it may not have stopped cleanly"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(prev["last_write_at"] or 0))
    return (
        f"the previous run (pid {prev['pid']} on {prev['host']}) did not stop cleanly (killed or crashed); "
        f"its last write was at {when}. It held {prev['unwritten_at_last_write']} request records "
        f"unwritten then, and was queueing about {prev['rate_per_s']:g} per second, each written within "
        f"{prev['flush_interval_s']:g} s: about {prev['probably_lost']} answered requests were probably "
        "never recorded"
    )
