"""The batch writer outlives any failed write, and every item ends written or counted as lost.

The store here is a fake that refuses chosen items or is down; the same
behaviour over real SQLite and PostgreSQL is in
tests/integration/store/test_store_recorder.py. Nothing here depends on how
fast the machine is: waits are for a condition, with generous limits.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Sequence

import pytest

from slipway.core.errors import StoreError, StoreRefusedData, StoreUnavailable
from slipway.gateway.batch_writer import BatchWriter


class FakeStore:
    def __init__(self, refused: Callable[[int], bool] = lambda _i: False) -> None:
        self.rows: list[int] = []
        self.attempts: list[int] = []
        self.refused = refused
        self.down = False
        #: Raised for any batch holding a refused item (the store's own error by default).
        self.error: Callable[[], Exception] = lambda: StoreRefusedData(
            "value too long for type character varying(200)"
        )

    async def write(self, batch: Sequence[int]) -> None:
        self.attempts.append(len(batch))
        await asyncio.sleep(0)
        if self.down:
            raise StoreUnavailable("connection refused")
        if any(self.refused(i) for i in batch):
            raise self.error()
        self.rows.extend(batch)

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailable("connection refused")


async def until(condition: Callable[[], bool], limit_s: float = 60.0) -> None:
    """Wait for `condition` (a limit only so a broken writer fails the test instead of hanging it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        assert loop.time() < deadline, "condition never became true"
        await asyncio.sleep(0.005)


def writer_for(store: FakeStore, **kwargs: object) -> BatchWriter[int]:
    options: dict[str, object] = {"flush_interval_s": 0.01, "probe": store.ping, **kwargs}
    writer: BatchWriter[int] = BatchWriter(store.write, what="items", **options)  # type: ignore[arg-type]
    writer.start()
    return writer


async def test_one_refused_item_is_isolated_and_every_other_item_is_written() -> None:
    store = FakeStore(refused=lambda i: i == 637)
    writer = writer_for(store)
    for i in range(1_000):
        writer.record(i)

    assert await writer.written(timeout=60)

    assert sorted(store.rows) == [i for i in range(1_000) if i != 637]
    assert writer.stats.lost == {"refused_by_store": 1}
    assert writer.stats.lost_in_failed_writes == 1 and writer.pending == 0
    assert writer.alive and "character varying(200)" in (writer.last_error or "")
    # Halving finds one bad item in about 2·log2(n) writes, not n.
    assert len(store.attempts) <= 2 * math.ceil(math.log2(1_000)) + 2
    # The writer carries on: later items are written.
    writer.record(5_000)
    assert await writer.written(timeout=60)
    assert store.rows[-1] == 5_000
    await writer.close()


async def test_a_refused_item_is_stored_repaired_when_repair_changes_it() -> None:
    store = FakeStore(refused=lambda i: i >= 10_000_000)

    def repair(i: int) -> tuple[int, tuple[str, ...]]:
        return (9_999_999, (f"{i} clamped to 9999999",)) if i >= 10_000_000 else (i, ())

    writer = writer_for(store, repair=repair)
    for i in [1, 2, 10**20, 3]:
        writer.record(i)

    assert await writer.written(timeout=60)

    assert sorted(store.rows) == [1, 2, 3, 9_999_999]
    assert writer.stats.sanitised == 1 and writer.stats.lost == {}
    await writer.close()


async def test_an_exception_that_is_not_the_stores_does_not_stop_the_writer() -> None:
    """On SQLite a token count beyond 64 bits raised OverflowError, which once ended the writer."""
    store = FakeStore(refused=lambda i: i == 7)
    store.error = lambda: OverflowError("Python int too large to convert to SQLite INTEGER")
    writer = writer_for(store, probe=None)
    for i in range(20):
        writer.record(i)
    assert await writer.written(timeout=60)
    for i in range(20, 40):
        writer.record(i)
    assert await writer.written(timeout=60)

    assert writer.alive
    assert sorted(store.rows) == [i for i in range(40) if i != 7]
    assert writer.stats.lost == {"refused_by_store": 1}
    assert "OverflowError" in (writer.last_error or "")
    await writer.close()


async def test_an_unavailable_store_keeps_the_batch_whole_and_counts_exactly_what_the_bound_drops() -> None:
    store = FakeStore()
    store.down = True
    writer = writer_for(store, max_queue=100, batch_size=50)
    for i in range(150):
        writer.record(i)

    await until(lambda: len(store.attempts) >= 3)
    assert not await writer.written(timeout=0.01)
    health = writer.health()
    assert health["alive"] and health["store_unavailable_since"] is not None
    assert health["pending"] == 100 and health["dropped"] == 50
    assert set(store.attempts) == {50}, "no batch split into single-row attempts while the store is down"

    store.down = False
    assert await writer.written(timeout=60)
    assert store.rows == list(range(100))
    assert writer.stats.lost == {"queue_full": 50} and writer.stats.lost_in_failed_writes == 0
    assert writer.health()["store_unavailable_since"] is None
    await writer.close()


async def test_a_store_that_refuses_every_write_is_not_split_row_by_row_and_nothing_is_lost() -> None:
    store = FakeStore(refused=lambda _i: True)
    store.error = lambda: StoreError('column "route_version" does not exist')
    writer = writer_for(store)
    for i in range(1_000):
        writer.record(i)

    await until(lambda: writer.unavailable_since is not None)

    first_round = len(store.attempts)
    assert first_round <= 2 * math.ceil(math.log2(1_001)) + 6
    assert writer.stats.lost == {} and writer.pending == 1_000
    await writer.close(timeout=0.05)
    assert writer.stats.lost == {"unwritten_at_stop": 1_000}


async def test_flush_and_close_return_while_the_store_is_down_and_the_rest_is_counted() -> None:
    store = FakeStore()
    store.down = True
    writer = writer_for(store)
    for i in range(10):
        writer.record(i)

    await writer.flush(timeout=0.05)
    assert not await writer.written(timeout=0.05)
    await writer.close(timeout=0.05)

    assert not writer.alive
    assert writer.stats.lost == {"unwritten_at_stop": 10} and writer.pending == 0
    writer.record(10)
    assert writer.stats.lost == {"unwritten_at_stop": 11}
    assert await writer.written(timeout=0)


async def test_a_bug_in_the_writer_loop_costs_a_pause_not_the_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore()
    writer = writer_for(store)
    calls = 0

    async def broken_once() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug")

    writer._on_idle = broken_once  # type: ignore[method-assign]
    await until(lambda: calls >= 2)
    writer.record(1)

    assert await writer.written(timeout=60)
    assert store.rows == [1] and writer.alive
    assert "a bug" in caplog.text and "Traceback" in caplog.text
    await writer.close()


async def test_a_bug_while_writing_counts_the_batch_in_hand_as_lost_and_the_writer_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FakeStore(refused=lambda i: i == 3)
    writer = writer_for(store)

    async def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("a bug while isolating")

    writer._isolate = broken  # type: ignore[method-assign]
    for i in range(5):
        writer.record(i)
    assert await writer.written(timeout=60), "nothing waits for items the bug took"
    writer.record(10)
    assert await writer.written(timeout=60)

    assert writer.alive and store.rows == [10]
    assert writer.stats.lost == {"writer_error": 5} and writer.pending == 0
    assert "a bug while isolating" in caplog.text
    await writer.close()
