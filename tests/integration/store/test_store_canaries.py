"""Canary state and its timeline: saved under optimistic concurrency, read back exactly."""

from __future__ import annotations

import asyncio

import pytest
from tests.integration.store.builders import T0

from slipway.core.canary import CanaryEvent, CanaryRecord, CanaryVerdict, MetricRow, VerdictAction
from slipway.core.errors import ConflictError
from slipway.store import Store


def canary(deployment_id: str = "dep1", *, status: str = "running", at: float = T0) -> CanaryRecord:
    return CanaryRecord(
        deployment_id=deployment_id,
        status=status,
        revision=0,
        created_at=at,
        updated_at=at,
        state={"phase": 0, "plan": {"steps": "5%:2h,25%:4h,100%"}, "nested": {"a": [1, 2.5, None]}},
    )


VERDICT = CanaryVerdict(
    action=VerdictAction.ROLLBACK,
    reason="billing accuracy 0.95 → 0.62",
    metrics=(
        MetricRow(
            metric="accuracy",
            category="billing",
            baseline=0.95,
            candidate=0.62,
            threshold="> 5 points drop",
            action=VerdictAction.ROLLBACK,
            n_baseline=400,
            n_candidate=60,
            detail="Fisher exact p=1e-9",
        ),
    ),
    extra={"blast_radius": {"share": 0.05}},
)


async def test_a_new_canary_is_saved_at_revision_1_and_read_back(store: Store) -> None:
    assert await store.latest_canary() is None
    saved = await store.save_canary(canary(), expected_revision=0)
    assert saved.revision == 1
    assert await store.latest_canary() == saved


async def test_each_save_bumps_the_revision_and_a_stale_one_conflicts(store: Store) -> None:
    first = await store.save_canary(canary(), expected_revision=0)
    second = await store.save_canary(canary(status="paused"), expected_revision=first.revision)
    assert second.revision == 2
    with pytest.raises(ConflictError, match="since revision 1"):
        await store.save_canary(canary(status="running"), expected_revision=1)
    with pytest.raises(ConflictError):
        await store.save_canary(canary(), expected_revision=0)
    latest = await store.latest_canary()
    assert latest is not None and (latest.status, latest.revision) == ("paused", 2)


async def test_two_writers_on_one_revision_exactly_one_wins(store: Store) -> None:
    await store.save_canary(canary(), expected_revision=0)
    results = await asyncio.gather(
        store.save_canary(canary(status="paused"), expected_revision=1),
        store.save_canary(canary(status="rolled_back"), expected_revision=1),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ConflictError) for r in results) == 1


async def test_the_latest_canary_is_the_newest_started(store: Store) -> None:
    await store.save_canary(canary("old", status="rolled_back", at=T0), expected_revision=0)
    await store.save_canary(canary("new", at=T0 + 10), expected_revision=0)
    latest = await store.latest_canary()
    assert latest is not None and latest.deployment_id == "new"


async def test_the_timeline_keeps_verdicts_with_their_metric_tables_newest_first(store: Store) -> None:
    await store.save_canary(canary(), expected_revision=0)
    for i, kind in enumerate(["start", "check", "rollback"]):
        await store.add_canary_event(
            CanaryEvent(
                deployment_id="dep1",
                at=T0 + i,
                kind=kind,
                phase=0,
                weight_bp=500 if kind != "rollback" else 0,
                actor="slipway (canary)",
                reason=f"reason {i}",
                verdict=VERDICT if kind != "start" else None,
            )
        )
    events = await store.canary_events("dep1")
    assert [e.kind for e in events] == ["rollback", "check", "start"]
    assert events[0].verdict == VERDICT and events[2].verdict is None
    assert [e.kind for e in await store.canary_events("dep1", limit=1)] == ["rollback"]
    assert await store.canary_events("other") == []
