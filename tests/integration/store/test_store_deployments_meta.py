"""Deployments (upserted by id as their status moves) and the meta key/value table."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from tests.integration.store.builders import T0, deployment

from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import StoreError
from slipway.store import Store, open_store


async def test_a_deployment_round_trips(store: Store) -> None:
    saved = deployment()
    await store.save_deployment(saved)

    assert await store.get_deployment("dep-1") == saved
    assert await store.get_deployment("dep-unknown") is None


async def test_saving_again_updates_in_place(store: Store) -> None:
    first = deployment()
    await store.save_deployment(first)
    live = replace(
        first,
        status=DeploymentStatus.LIVE,
        updated_at=T0 + 60,
        detail={**first.detail, "promoted_by": "controller"},
    )

    await store.save_deployment(live)

    assert await store.list_deployments() == [live]


async def test_deployments_are_listed_newest_first(store: Store) -> None:
    for n in (2, 0, 3, 1):
        await store.save_deployment(deployment(f"dep-{n}", created_at=T0 + n))

    listed = await store.list_deployments()
    assert [d.id for d in listed] == ["dep-3", "dep-2", "dep-1", "dep-0"]
    assert [d.id for d in await store.list_deployments(limit=2)] == ["dep-3", "dep-2"]


async def test_meta_is_an_upserting_key_value_map(store: Store) -> None:
    assert await store.get_meta("routing_file") is None

    await store.set_meta("routing_file", "model_routing.yaml")
    await store.set_meta("routing_file", "/etc/slipway/routing.yaml")
    await store.set_meta("other", "x" * 10_000)

    assert await store.get_meta("routing_file") == "/etc/slipway/routing.yaml"
    assert await store.get_meta("other") == "x" * 10_000


async def test_a_detail_that_is_not_json_is_refused_on_every_backend(store: Store) -> None:
    broken = replace(deployment(), detail={"p_value": float("nan")})

    with pytest.raises(StoreError, match="save deployment 'dep-1'"):
        await store.save_deployment(broken)
    assert await store.list_deployments() == []


async def test_kept_keys_are_taken_once_whoever_asks_first(store_url: str) -> None:
    """Two replicas starting together each take what stopped replicas kept, never the same key."""
    first, second = await open_store(store_url), await open_store(store_url)
    try:
        for i in range(20):
            await first.set_meta(f"notify_pending:replica-{i}", f"kept {i}")
        await first.set_meta("notify_pendingX", "not under the prefix")
        await first.set_meta("notifyXpending:a", "an underscore is no wildcard here")
        await first.set_meta("other", "kept too")
        a, b = await asyncio.gather(first.take_meta("notify_pending:"), second.take_meta("notify_pending:"))
        assert not a.keys() & b.keys()
        assert {**a, **b} == {f"notify_pending:replica-{i}": f"kept {i}" for i in range(20)}
        assert await first.take_meta("notify_pending:") == {}
        assert await first.get_meta("notify_pendingX") == "not under the prefix"
        assert await first.get_meta("notifyXpending:a") == "an underscore is no wildcard here"
        assert await first.get_meta("other") == "kept too"
    finally:
        await first.close()
        await second.close()
