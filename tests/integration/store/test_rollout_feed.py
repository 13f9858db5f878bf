"""A canary saved by one replica wakes every replica's control loops: notified on PostgreSQL, polled anywhere.

An operator's pause or resume may reach a replica that does not lead. It
saves the state itself; the leader must hear of it at once (or within a
poll), not at its next scheduled check. Real stores, the real feed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from tests.integration.store.test_store_canaries import canary

from slipway.store import Store
from slipway.store.route_feed import RouteFeed

DEADLINE_S = 15.0


@contextlib.asynccontextmanager
async def following(feed: RouteFeed) -> AsyncIterator[asyncio.Event]:
    """The feed running; the event is set each time it reports a rollout change."""
    woke = asyncio.Event()

    async def on_version(_version: int) -> None:
        return None

    task = asyncio.create_task(feed.follow(on_version, woke.set))
    try:
        yield woke
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_canary_save_counts_one_change(store: Store) -> None:
    assert (await store.change_marks())[1] == 0
    saved = await store.save_canary(canary("a"), expected_revision=0)
    await asyncio.gather(
        store.save_canary(canary("b"), expected_revision=0),
        store.save_canary(canary("a", status="paused"), expected_revision=saved.revision),
    )
    assert (await store.change_marks())[1] == 3


async def test_a_canary_saved_elsewhere_wakes_the_loops_once_per_save(store: Store) -> None:
    # No notifications: the poll alone must see it (SQLite replicas, or --no-route-notify).
    feed = RouteFeed(store, poll_s=0.05, notifications=False)
    async with following(feed) as woke:
        await asyncio.sleep(0.2)  # the first poll learns the count; that is no change
        assert not woke.is_set()
        first = await store.save_canary(canary(), expected_revision=0)
        async with asyncio.timeout(DEADLINE_S):
            await woke.wait()
        woke.clear()
        await store.save_canary(canary(status="paused"), expected_revision=first.revision)
        async with asyncio.timeout(DEADLINE_S):
            await woke.wait()
    assert feed.stats.rollout_changes == 2


@pytest.mark.parametrize("store_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_on_postgresql_the_notification_wakes_the_loops_before_any_poll(store: Store) -> None:
    feed = RouteFeed(store, poll_s=3600, notifications=True)  # one poll at start, then only notifications
    async with following(feed) as woke:
        async with asyncio.timeout(DEADLINE_S):
            while not feed.stats.listening:
                await asyncio.sleep(0.02)
        await store.save_canary(canary(), expected_revision=0)
        async with asyncio.timeout(DEADLINE_S):
            await woke.wait()
    assert feed.stats.rollout_changes == 1
