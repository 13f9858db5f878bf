"""A drill's pin in the stored route table: round trips, history marked as a drill, fenced like any change."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from tests.integration.store.builders import T0, blue_green, change

from slipway.core.errors import NotLeaderError
from slipway.core.fencing import leader_epoch
from slipway.core.types import DrillPin, RouteChangeKind
from slipway.rollout import machine
from slipway.store import Store
from slipway.store.repositories import leadership as leader_rows

PIN = DrillPin(id="s3cret-token", slot="green", actor="ops", started_at=T0)


async def test_a_pin_round_trips_is_a_drill_in_the_history_and_clears(store: Store) -> None:
    first = await store.commit_routes(
        blue_green(), expected_version=0, change=change(kind=RouteChangeKind.INIT)
    )
    assert first.drill is None and (await store.load_routes()) == first

    pinned, pin_change = machine.set_drill(first, PIN, actor="ops", reason="drill a1: pin to green", now=T0)
    await store.commit_routes(pinned, expected_version=first.version, change=pin_change)
    loaded = await store.load_routes()
    assert loaded is not None and loaded.drill == PIN
    assert (loaded.active, loaded.weights) == (first.active, first.weights)  # users' routes untouched

    cleared, clear_change = machine.set_drill(loaded, None, actor="ops", reason="drill a1: clear", now=T0 + 1)
    await store.commit_routes(cleared, expected_version=loaded.version, change=clear_change)
    final = await store.load_routes()
    assert final is not None and final.drill is None and final.version == 3

    history = await store.route_history()
    assert [(c.kind, c.from_active, c.to_active, c.reason) for c in history[:2]] == [
        (RouteChangeKind.DRILL, "blue", "blue", "drill a1: clear"),
        (RouteChangeKind.DRILL, "blue", "blue", "drill a1: pin to green"),
    ]
    assert all(PIN.id not in c.reason for c in history)  # the token is never written where people read


async def test_a_pin_from_a_deposed_leader_is_refused_and_nothing_of_it_commits(
    store: Store, store_url: str
) -> None:
    first = await store.commit_routes(
        blue_green(), expected_version=0, change=change(kind=RouteChangeKind.INIT)
    )
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            stale = leader_rows.take_office(connection, "replica-a", T0)
        with engine.begin() as connection:
            leader_rows.take_office(connection, "replica-b", T0 + 1)
    finally:
        engine.dispose()

    pinned, pin_change = machine.set_drill(first, PIN, actor="ops", reason="drill a2: pin", now=T0)
    token = leader_epoch.set(stale)
    try:
        with pytest.raises(NotLeaderError):
            await store.commit_routes(pinned, expected_version=first.version, change=pin_change)
    finally:
        leader_epoch.reset(token)
    assert await store.load_routes() == first
    assert [c.kind for c in await store.route_history()] == [RouteChangeKind.INIT]
