"""Route table persistence: exact round trips, optimistic concurrency, history."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from tests.integration.store.builders import T0, blue_green, change

from slipway.core.errors import ConflictError, StoreError
from slipway.core.types import WEIGHT_SCALE, BackendKind, RouteChangeKind
from slipway.store import Store, open_store


async def test_a_fresh_store_has_no_route_table_and_no_history(store: Store) -> None:
    assert await store.load_routes() is None
    assert await store.route_history() == []


async def test_the_first_commit_creates_version_1_and_round_trips_every_slot_field(store: Store) -> None:
    table = blue_green(weights={"blue": 9_500, "green": 500})

    committed = await store.commit_routes(table, expected_version=0, change=change(kind=RouteChangeKind.INIT))

    assert committed == replace(table, version=1)
    loaded = await store.load_routes()
    assert loaded == committed
    assert loaded is not None
    assert list(loaded.slots) == ["blue", "green"]
    assert loaded.slots["green"].kind is BackendKind.LLAMACPP
    assert loaded.effective_weights() == {"blue": 9_500, "green": 500}


async def test_each_commit_increments_the_version(store: Store) -> None:
    first = await store.commit_routes(blue_green(), expected_version=0, change=change())
    second = await store.commit_routes(
        blue_green(active="green"), expected_version=first.version, change=change("green")
    )

    assert (first.version, second.version) == (1, 2)
    assert await store.load_routes() == second


async def test_a_stale_expected_version_conflicts_and_changes_nothing(store: Store) -> None:
    await store.commit_routes(blue_green(), expected_version=0, change=change())
    await store.commit_routes(blue_green(active="green"), expected_version=1, change=change("green"))

    with pytest.raises(ConflictError, match=r"changed since version 1 \(now 2\); reload and retry"):
        await store.commit_routes(blue_green(), expected_version=1, change=change())

    loaded = await store.load_routes()
    assert loaded is not None and (loaded.version, loaded.active) == (2, "green")
    assert [c.version for c in await store.route_history()] == [2, 1]


async def test_committing_version_0_onto_an_existing_table_conflicts(store: Store) -> None:
    await store.commit_routes(blue_green(), expected_version=0, change=change())

    with pytest.raises(ConflictError, match=r"since version 0 \(now 1\)"):
        await store.commit_routes(blue_green(active="green"), expected_version=0, change=change("green"))


@pytest.mark.parametrize("expected_version", [0, 1])
async def test_two_replicas_committing_the_same_version_exactly_one_wins(
    store: Store, store_url: str, expected_version: int
) -> None:
    """Two stores on one database stand for two processes: the race is real, not serialised."""
    if expected_version:
        await store.commit_routes(blue_green(), expected_version=0, change=change())
    other = await open_store(store_url)
    try:
        results = await asyncio.gather(
            store.commit_routes(
                blue_green(active="green"), expected_version=expected_version, change=change("green")
            ),
            other.commit_routes(
                blue_green(weights={"blue": 5_000, "green": 5_000}),
                expected_version=expected_version,
                change=change(kind=RouteChangeKind.WEIGHTS, actor="controller"),
            ),
            return_exceptions=True,
        )
    finally:
        await other.close()

    conflicts = [r for r in results if isinstance(r, ConflictError)]
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(conflicts) == 1 and len(winners) == 1, results
    assert await store.load_routes() == winners[0]
    assert [c.version for c in await store.route_history()] == list(range(expected_version + 1, 0, -1))


async def test_history_is_newest_first_limited_and_round_trips(store: Store) -> None:
    table = await store.commit_routes(
        blue_green(), expected_version=0, change=change(kind=RouteChangeKind.INIT, actor="config")
    )
    for step, weight in enumerate([500, 2_500, WEIGHT_SCALE], start=1):
        weights = {"blue": WEIGHT_SCALE - weight, "green": weight}
        table = await store.commit_routes(
            replace(table, weights=weights),
            expected_version=table.version,
            change=change(at=T0 + step, kind=RouteChangeKind.WEIGHTS, actor="controller", to_weights=weights),
        )

    history = await store.route_history()
    assert [c.version for c in history] == [4, 3, 2, 1]
    newest = history[0]
    assert newest.kind is RouteChangeKind.WEIGHTS
    assert newest.to_weights == {"blue": 0, "green": WEIGHT_SCALE}
    assert newest.at == T0 + 3
    assert newest.reason == "controller moved traffic to blue — ünïcode ok"
    assert history[-1] == replace(change(kind=RouteChangeKind.INIT, actor="config"), version=1)
    assert [c.version for c in await store.route_history(limit=2)] == [4, 3]


async def test_a_slot_keyed_under_another_name_is_refused(store: Store) -> None:
    table = blue_green()
    wrong = replace(table, slots={"blue": table.slots["blue"], "canary": table.slots["green"]})

    with pytest.raises(StoreError, match="'canary' to a slot named 'green'"):
        await store.commit_routes(wrong, expected_version=0, change=change())
    assert await store.load_routes() is None
