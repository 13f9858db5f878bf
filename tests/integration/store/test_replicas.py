"""Replicas' heartbeats and the leadership row, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import create_engine
from tests.integration.store.builders import T0

from slipway.app.replica import FORGET_AFTER_S, Replica
from slipway.core.replicas import Leadership, ReplicaBeat
from slipway.gateway.recorder import Recorder
from slipway.store import Store
from slipway.store.repositories import leadership as leader_rows


def beat(replica_id: str = "web-1:4242", *, at: float = T0, started: float = T0 - 60) -> ReplicaBeat:
    return ReplicaBeat(
        id=replica_id,
        host="web-1",
        pid=4242,
        started_at=started,
        heartbeat_at=at,
        route_version=7,
        records_queued=12,
        records_dropped=0,
    )


async def test_a_heartbeat_is_stored_and_read_back_whole(store: Store) -> None:
    full = dataclasses.replace(beat(), leader_epoch=3, url="http://10.0.0.5:8081")
    await store.heartbeat(full)
    assert await store.live_replicas(since=T0 - 1) == [full]


async def test_a_later_heartbeat_replaces_the_replica_s_row(store: Store) -> None:
    await store.heartbeat(beat(at=T0))
    later = dataclasses.replace(
        beat(at=T0 + 5), route_version=8, records_queued=0, records_dropped=3, leader_epoch=None
    )
    await store.heartbeat(later)
    assert await store.live_replicas(since=T0 - 1) == [later]


async def test_record_counts_beyond_32_bits_fit(store: Store) -> None:
    huge = dataclasses.replace(beat(), records_queued=2**40, records_dropped=2**33 + 1)
    await store.heartbeat(huge)
    assert await store.live_replicas(since=T0 - 1) == [huge]


async def test_live_replicas_are_those_that_beat_after_since_longest_running_first(store: Store) -> None:
    await store.heartbeat(beat("young", at=T0, started=T0 - 10))
    await store.heartbeat(beat("old", at=T0 - 2, started=T0 - 1000))
    await store.heartbeat(beat("silent", at=T0 - 30, started=T0 - 500))

    assert [r.id for r in await store.live_replicas(since=T0 - 15)] == ["old", "young"]
    assert [r.id for r in await store.live_replicas(since=T0 - 2)] == ["young"]  # strictly newer
    assert [r.id for r in await store.live_replicas(since=T0 - 60)] == ["old", "silent", "young"]
    assert await store.live_replicas(since=T0) == []


async def test_a_forgotten_replica_is_gone_and_forgetting_twice_is_fine(store: Store) -> None:
    await store.heartbeat(beat("a"))
    await store.heartbeat(beat("b"))
    await store.forget_replica("a")
    await store.forget_replica("a")
    await store.forget_replica("never-there")
    assert [r.id for r in await store.live_replicas(since=0)] == ["b"]


async def test_replicas_silent_since_before_a_time_are_forgotten_and_counted(store: Store) -> None:
    await store.heartbeat(beat("crashed", at=T0 - 900))
    await store.heartbeat(beat("crashed-too", at=T0 - 700))
    await store.heartbeat(beat("alive", at=T0))

    assert await store.forget_silent_replicas(before=T0 - 600) == 2
    assert [r.id for r in await store.live_replicas(since=0)] == ["alive"]
    assert await store.forget_silent_replicas(before=T0 - 600) == 0


async def test_the_leader_forgets_the_rows_of_replicas_that_crashed_long_ago(
    store: Store, store_url: str
) -> None:
    now = time.time()
    await store.heartbeat(beat("crashed", at=now - FORGET_AFTER_S - 60))
    await store.heartbeat(beat("restarting", at=now - 30))  # not live, not forgotten yet
    leader = Replica(
        store=store, store_url=store_url, port=0, loops=(), recorder=Recorder(store), route_version=lambda: 1
    )
    leader.start()
    try:
        async with asyncio.timeout(15):
            while [r.id for r in await store.live_replicas(since=0)] != ["restarting", leader.id]:
                await asyncio.sleep(0.05)
        assert leader.epoch is not None
    finally:
        await leader.stop()


def test_a_replica_beat_refuses_an_empty_id_and_overlong_text() -> None:
    with pytest.raises(ValueError, match="empty"):
        beat("")
    with pytest.raises(ValueError, match="at most 200"):
        beat("x" * 201)
    with pytest.raises(ValueError, match="url holds at most 500"):
        dataclasses.replace(beat(), url="http://" + "h" * 500)


async def test_nobody_leads_a_fresh_store(store: Store) -> None:
    assert await store.leadership() == Leadership(epoch=0, holder=None, since=None)


async def test_taking_office_bumps_the_epoch_and_names_the_holder(store: Store, store_url: str) -> None:
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            assert leader_rows.take_office(connection, "web-1", T0) == 1
        with engine.begin() as connection:
            assert leader_rows.take_office(connection, "web-2", T0 + 9) == 2
    finally:
        engine.dispose()
    assert await store.leadership() == Leadership(epoch=2, holder="web-2", since=T0 + 9)
