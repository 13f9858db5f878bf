"""The recorder over a real store (SQLite and PostgreSQL): odd values cost a value, never records.

On PostgreSQL a 201-character category once ended the writer with `value too
long for type character varying(200)`, and on SQLite a token count beyond 64
bits with OverflowError; every later record was lost and nothing counted it.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.integration.store.builders import record

from slipway.core.errors import StoreRefusedData
from slipway.core.lifecycle import RequestInput
from slipway.core.records import RequestRecord
from slipway.gateway.recorder import HEARTBEAT_KEY, Recorder
from slipway.store import Store, default_store_url, open_store

KEY = f"{HEARTBEAT_KEY}.test"

ODD: dict[int, dict[str, Any]] = {
    3: {"category": "c" * 201},
    10: {"output_tokens": 18_446_744_073_709_551_615},
    17: {"output_head": "nul \x00 inside"},
    18: {"latency_ms": math.nan, "ttft_ms": math.inf},
    29: {"sticky_key": "k" * 401, "error": "bad \ud800 text"},
}


def batch(n: int, start: int = 0) -> list[RequestRecord]:
    return [replace(record(i), **ODD.get(i, {})) for i in range(start, start + n)]


async def test_the_store_says_a_refused_value_is_the_datas_fault_on_every_backend(store: Store) -> None:
    """The raw-driver insert path used to raise psycopg's or sqlite3's own exceptions."""
    with pytest.raises(StoreRefusedData, match="could not write 1 request records"):
        await store.write_records([replace(record(1), output_tokens=2**64)])
    assert await store.get_request(record(1).request_id) is None
    await store.write_records([record(2)])
    assert await store.get_request(record(2).request_id) == record(2)


async def test_odd_values_are_stored_within_bounds_and_every_other_record_is_written(
    store: Store, store_url: str
) -> None:
    recorder = Recorder(store, instance="test", batch_size=1_000, flush_interval_s=0.01)
    await recorder.open()
    recorder.start()
    for rec in batch(40):
        recorder.record(rec)
    assert await recorder.written(timeout=60)
    for rec in batch(10, start=40):
        recorder.record(rec)
    assert await recorder.written(timeout=60)

    assert (await store.request_counts(since=0))["blue"]["total"] == 50
    for i in set(range(50)) - set(ODD):
        assert await store.get_request(record(i).request_id) == record(i)
    tokens = await store.get_request(record(10).request_id)
    assert tokens is not None and tokens.output_tokens == 2**31 - 1
    health = recorder.health()
    assert health["alive"] and health["lost"] == {} and health["pending"] == 0
    # SQLite neither enforces VARCHAR lengths nor refuses NUL, PostgreSQL takes NaN as a float
    # but not as a NOT NULL value gone missing: what needs fitting differs.
    postgres = store_url.startswith("postgresql")
    assert health["sanitised"] == (4 if postgres else 3)
    long = await store.get_request(record(3).request_id)
    assert long is not None and long.category == "c" * (200 if postgres else 201)
    nul = await store.get_request(record(17).request_id)
    assert nul is not None and nul.output_head == ("nul  inside" if postgres else "nul \x00 inside")
    await recorder.close()


async def test_each_write_leaves_a_heartbeat_and_a_clean_stop_marks_it(store: Store) -> None:
    recorder = Recorder(store, instance="test", flush_interval_s=0.01)
    await recorder.open()
    recorder.start()
    assert recorder.previous_run is None
    for rec in batch(30):
        recorder.record(rec)
    assert await recorder.written(timeout=60)

    beat = json.loads(await store.get_meta(KEY) or "{}")
    assert (beat["queued"], beat["written"], beat["lost"], beat["clean"]) == (30, 30, 0, False)
    await recorder.close()
    assert json.loads(await store.get_meta(KEY) or "{}")["clean"] is True

    after = Recorder(store, instance="test")
    await after.open()
    assert after.previous_run is not None and after.previous_run["clean"] is True
    assert after.previous_run["probably_lost"] == 0
    await after.close()


class StallsOnSecondWrite:
    """A store whose second batch never returns: the process is killed with records in hand."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.batches = 0

    async def write_records(
        self,
        records: Sequence[RequestRecord],
        *,
        checkpoint: tuple[str, str] | None = None,
        inputs: Sequence[RequestInput] = (),
    ) -> None:
        if records:
            self.batches += 1
            if self.batches == 2:
                await asyncio.Event().wait()
        await self._store.write_records(records, checkpoint=checkpoint, inputs=inputs)

    async def ping(self, timeout: float = 2.0) -> None:
        await self._store.ping(timeout)

    async def get_meta(self, key: str) -> str | None:
        return await self._store.get_meta(key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._store.set_meta(key, value)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_run_that_never_stopped_cleanly_is_reported_with_what_it_held_unwritten(store: Store) -> None:
    stalling = StallsOnSecondWrite(store)
    killed = Recorder(stalling, instance="test", batch_size=10, flush_interval_s=0.01)
    await killed.open()
    for i in range(15):  # queued before the writer runs: the first batch takes 10, 5 wait
        killed.record(record(i))
    killed.start()
    await asyncio.wait_for(_until(lambda: stalling.batches == 2), 60)
    # "kill -9": the writer is gone without a stop; nothing more reaches the store.
    assert killed._task is not None
    killed._stopping.set()
    killed._task.cancel()

    restarted = Recorder(store, instance="test")
    await restarted.open()

    prev = restarted.previous_run
    assert prev is not None and prev["clean"] is False
    assert prev["written"] == 10 and prev["unwritten_at_last_write"] == 5
    assert prev["probably_lost"] >= 5
    assert restarted.health()["previous_run"] == prev
    await restarted.close()


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.005)


async def test_a_locked_sqlite_store_keeps_every_record_until_it_can_write_them(tmp_path: Path) -> None:
    """Another process holding the write lock past busy_timeout: the store is busy, not the data bad."""
    store = await open_store(default_store_url(tmp_path))
    recorder = Recorder(store, instance="test", flush_interval_s=0.01)
    await recorder.open()
    recorder.start()
    lock = sqlite3.connect(tmp_path / ".slipway" / "slipway.db", isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        for i in range(20):
            recorder.record(record(i))
        await asyncio.wait_for(_until(lambda: recorder.unavailable_since is not None), 120)
        health = recorder.health()
        assert health["alive"] and health["pending"] == 20 and health["lost"] == {}
        assert "locked" in (health["last_error"] or "")
        assert await store.request_counts(since=0) == {}, "readers still answer (WAL)"
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert await recorder.written(timeout=120)
    assert (await store.request_counts(since=0))["blue"]["total"] == 20
    assert recorder.health()["lost"] == {} and recorder.unavailable_since is None
    await recorder.close()
    await store.close()
