"""Kept sets (undelivered notifications) are taken only from replicas that stopped beating, once each.

On SQLite and PostgreSQL: a replica that beats keeps its set; a silent one's
(or one whose heartbeat row is gone) goes to exactly one taker; the taker's
own key is never taken.
"""

from __future__ import annotations

import asyncio

from tests.integration.store.builders import T0
from tests.integration.store.test_replicas import beat

from slipway.store import Store, open_store

PREFIX = "notify_pending:"


async def test_only_the_sets_of_replicas_that_stopped_beating_are_taken(store: Store) -> None:
    await store.heartbeat(beat("alive", at=T0))
    await store.heartbeat(beat("silent", at=T0 - 30))
    for owner in ("alive", "silent", "forgotten", "me"):
        await store.set_meta(f"{PREFIX}{owner}", f"kept by {owner}")
    await store.set_meta("other", "not a kept set")

    taken = await store.take_meta_of_silent(PREFIX, alive_since=T0 - 10, mine=f"{PREFIX}me")

    assert taken == {f"{PREFIX}silent": "kept by silent", f"{PREFIX}forgotten": "kept by forgotten"}
    assert await store.get_meta(f"{PREFIX}alive") == "kept by alive"
    assert await store.get_meta(f"{PREFIX}me") == "kept by me"
    assert await store.get_meta("other") == "not a kept set"
    # Once the live one goes silent too, its set is taken, once.
    assert await store.take_meta_of_silent(PREFIX, alive_since=T0 + 1, mine=f"{PREFIX}me") == {
        f"{PREFIX}alive": "kept by alive"
    }
    assert await store.take_meta_of_silent(PREFIX, alive_since=T0 + 1, mine=f"{PREFIX}me") == {}


async def test_two_survivors_taking_at_once_never_get_the_same_set(store_url: str) -> None:
    first, second = await open_store(store_url), await open_store(store_url)
    try:
        for i in range(20):
            await first.set_meta(f"{PREFIX}gone-{i}", f"kept {i}")
        a, b = await asyncio.gather(
            first.take_meta_of_silent(PREFIX, alive_since=T0, mine=f"{PREFIX}a"),
            second.take_meta_of_silent(PREFIX, alive_since=T0, mine=f"{PREFIX}b"),
        )
        assert not a.keys() & b.keys()
        assert {**a, **b} == {f"{PREFIX}gone-{i}": f"kept {i}" for i in range(20)}
    finally:
        await first.close()
        await second.close()


async def test_a_deleted_key_is_gone_and_deleting_a_missing_one_is_fine(store: Store) -> None:
    await store.set_meta(f"{PREFIX}me", "x")
    await store.delete_meta(f"{PREFIX}me")
    await store.delete_meta(f"{PREFIX}never")
    assert await store.get_meta(f"{PREFIX}me") is None
