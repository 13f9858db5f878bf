"""The keeper: this replica's undelivered notifications written to the store as they change.

A store double that fails on demand stands in for the database: what is
checked is what the store ends up holding, and what was logged, never how
long anything took.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from slipway.core.errors import StoreUnavailable
from slipway.core.notifications import Notification
from slipway.notify.keeper import Keeper
from slipway.notify.kept import Kept, decode, encode
from slipway.notify.outbox import Outbox

KEY = "notify_pending:me"


class FlakyStore:
    """A meta table in a dict whose writes fail while `down` is set."""

    def __init__(self) -> None:
        self.meta: dict[str, str] = {}
        self.down = False
        self.calls = 0

    async def set_meta(self, key: str, value: str) -> None:
        self._write()
        self.meta[key] = value

    async def delete_meta(self, key: str) -> None:
        self._write()
        self.meta.pop(key, None)

    async def take_meta_of_silent(self, prefix: str, *, alive_since: float, mine: str) -> dict[str, str]:
        raise NotImplementedError

    def _write(self) -> None:
        self.calls += 1
        if self.down:
            raise StoreUnavailable("write meta key: database is down")


async def until(check: Callable[[], bool], what: str) -> None:
    """Yield to the keeper until `check` holds (a guard against a hang, not a measure)."""
    for _ in range(10_000):
        if check():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"never: {what}")


def note(title: str) -> Notification:
    return Notification(event="route.rollback", title=title, at=1.0)


async def test_each_change_is_written_and_nothing_pending_deletes_the_key() -> None:
    store, pending = FlakyStore(), [note("rolled back")]
    keeper = Keeper(store, KEY, lambda: encode(Kept(email=pending)) if pending else None, every_s=0)
    keeper.start()
    try:
        await until(lambda: KEY in store.meta, "the pending set written")
        assert [n.title for n in decode(store.meta[KEY]).email] == ["rolled back"]
        pending.clear()
        keeper.changed()
        await until(lambda: KEY not in store.meta, "the key deleted once nothing is pending")
    finally:
        await keeper.close()


async def test_a_burst_of_changes_costs_one_write_per_period_not_one_each() -> None:
    store, pending = FlakyStore(), [note("first")]
    keeper = Keeper(store, KEY, lambda: encode(Kept(email=list(pending))), every_s=3600)
    keeper.start()
    try:
        await until(lambda: keeper.writes == 1, "the first write")
        for i in range(100):
            pending.append(note(f"more {i}"))
            keeper.changed()
        for _ in range(50):
            await asyncio.sleep(0)
        assert keeper.writes == 1  # the rest waits for the period (or the final write at close)
    finally:
        await keeper.close()


async def test_an_unchanged_set_is_not_written_again() -> None:
    store = FlakyStore()
    keeper = Keeper(store, KEY, lambda: None, every_s=0)
    assert await keeper.write_now()  # the first: the store may hold a stale key
    assert await keeper.write_now()
    assert store.calls == 1


async def test_a_failing_store_is_logged_once_retried_and_its_recovery_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, pending = FlakyStore(), [note("canary rolled back")]
    store.down = True
    keeper = Keeper(store, KEY, lambda: encode(Kept(email=pending)), every_s=0, retry_s=0)
    with caplog.at_level(logging.INFO, logger="slipway.notify"):
        keeper.start()
        try:
            await until(lambda: store.calls >= 5, "several failed attempts")
            store.down = False
            await until(lambda: KEY in store.meta, "the set written once the store is back")
        finally:
            await keeper.close()
    failed = [r for r in caplog.records if "cannot keep the undelivered" in r.getMessage()]
    recovered = [r for r in caplog.records if "kept in the store again" in r.getMessage()]
    assert len(failed) == 1 and failed[0].levelno == logging.ERROR
    assert "database is down" in failed[0].getMessage()
    assert len(recovered) == 1
    assert [n.title for n in decode(store.meta[KEY]).email] == ["canary rolled back"]


async def test_a_bug_in_the_snapshot_never_reaches_the_caller_nor_stops_the_keeper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, broken = FlakyStore(), [True]

    def snapshot() -> str | None:
        if broken[0]:
            raise RuntimeError("bug")
        return "set"

    keeper = Keeper(store, KEY, snapshot, every_s=0, retry_s=0)
    with caplog.at_level(logging.ERROR, logger="slipway.notify"):
        keeper.start()
        try:
            keeper.changed()  # never raises
            await until(lambda: any("RuntimeError: bug" in r.getMessage() for r in caplog.records), "logged")
            broken[0] = False
            await until(lambda: store.meta.get(KEY) == "set", "written after the bug went away")
        finally:
            await keeper.close()


async def test_an_outbox_tells_each_change_and_keeps_the_one_in_delivery_first() -> None:
    changes: list[int] = []
    release = asyncio.Event()
    delivered: list[str] = []

    async def deliver(n: Notification) -> None:
        await release.wait()
        delivered.append(n.title)

    outbox = Outbox("test", deliver, on_change=lambda: changes.append(1))
    outbox.put(note("a"))
    outbox.put(note("b"))
    assert [n.title for n in outbox.pending()] == ["a", "b"] and len(changes) == 2
    outbox.start()
    release.set()
    await outbox.flush(10)
    assert delivered == ["a", "b"] and outbox.pending() == [] and len(changes) == 4
    release.clear()
    outbox.put(note("c"))
    left = await outbox.close(drain_s=0.01)
    assert [n.title for n in left] == ["c"]
