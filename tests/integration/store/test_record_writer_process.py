"""The record writer process: records land in the store, a killed child loses nothing.

A real child (`python -m slipway.store.record_writer_child`) against a real
SQLite file and a real PostgreSQL database; reads go through the parent's
store, as the gateway's analysis does.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest
from tests.integration.store.builders import record

from slipway.core.errors import StoreError
from slipway.store import Store
from slipway.store.record_writer import RecordWriterProcess


async def test_batches_written_by_the_child_read_back_exactly(store: Store, store_url: str) -> None:
    writer = await RecordWriterProcess.start(store_url, store.where)
    try:
        records = [record(i, slot="green" if i % 4 == 0 else "blue") for i in range(2_500)]
        records[7] = replace(records[7], error="upstream said: \"no\" ✗", status=502, ttft_ms=None)
        for start in range(0, len(records), 1_000):
            await writer.write_records(records[start : start + 1_000])
        for i in (0, 7, 999, 1_000, 2_499):
            assert await store.get_request(records[i].request_id) == records[i]
        assert await store.request_counts(since=0) == {
            "blue": {"total": 1_875, "errors": 1},
            "green": {"total": 625, "errors": 0},
        }
        # A batch resent after a lost answer is harmless: known ids are skipped.
        await writer.write_records(records[:10] + [record(9_000)])
        assert (await store.request_counts(since=0))["blue"]["total"] == 1_875 + 1
        assert await store.get_request(record(9_000).request_id) == record(9_000)
    finally:
        await writer.close()


async def test_a_killed_child_is_replaced_and_the_batch_is_not_lost(store: Store, store_url: str) -> None:
    writer = await RecordWriterProcess.start(store_url, store.where)
    try:
        await writer.write_records([record(1)])
        first = writer.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await asyncio.sleep(0.2)

        await writer.write_records([record(2), record(3)])

        assert writer.pid not in (None, first)
        for i in (1, 2, 3):
            assert await store.get_request(record(i).request_id) == record(i)
    finally:
        await writer.close()


async def test_close_ends_the_child_and_later_writes_fail_clearly(store: Store, store_url: str) -> None:
    writer = await RecordWriterProcess.start(store_url, store.where)
    pid = writer.pid
    assert pid is not None
    await writer.write_records([record(1)])
    await writer.close()
    await writer.close()  # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises(StoreError, match="record writer .* is closed"):
        await writer.write_records([record(2)])


async def test_the_child_ignores_the_terminals_ctrl_c(store: Store, store_url: str) -> None:
    """The gateway hands over its last records after SIGINT; the child must still be there."""
    writer = await RecordWriterProcess.start(store_url, store.where)
    try:
        pid = writer.pid
        assert pid is not None
        assert os.getsid(pid) != os.getsid(0)
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.2)
        await writer.write_records([record(4)])
        assert writer.pid == pid
        assert await store.get_request(record(4).request_id) == record(4)
    finally:
        await writer.close()


async def test_a_database_the_child_cannot_open_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    url = f"sqlite:///{blocker / 'slipway.db'}"
    with pytest.raises(StoreError, match=r"not-a-dir") as caught:
        await RecordWriterProcess.start(url, "SQLite database under a file")
    assert caught.value.hint
