"""The one way a deployment row moves, on both stores: lifecycle checked, wall-clock stamped, saved."""

from __future__ import annotations

import logging

import pytest

from slipway.core.deployments import DeploymentStatus, Strategy
from slipway.core.errors import TransitionError
from slipway.rollout.deployment_book import DeploymentBook
from slipway.store import Store


class Wall:
    """A wall clock the test sets: each read returns the time it was last set to."""

    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


async def test_a_deployment_opens_pending_and_each_move_is_stamped_and_saved(store: Store) -> None:
    wall = Wall(1_000.0)
    book = DeploymentBook(store, wall=wall)
    dep = await book.open(
        version="v2.2", strategy=Strategy.CANARY, slot="green", actor="ana", previous_slot="blue", detail={}
    )
    saved = await store.get_deployment(dep.id)
    assert saved is not None and saved.status is DeploymentStatus.PENDING
    assert (saved.created_at, saved.updated_at) == (1_000.0, 1_000.0)

    wall.at = 1_060.0
    await book.move(dep, DeploymentStatus.STAGED)
    wall.at = 1_120.0
    await book.move(dep, DeploymentStatus.CANARY)
    saved = await store.get_deployment(dep.id)
    assert saved is not None
    assert (saved.status, saved.created_at, saved.updated_at) == (DeploymentStatus.CANARY, 1_000.0, 1_120.0)


async def test_an_illegal_move_is_refused_and_nothing_is_saved(store: Store) -> None:
    book = DeploymentBook(store, wall=Wall(5.0))
    dep = await book.open(
        version="v2", strategy=Strategy.BLUEGREEN, slot="green", actor="a", previous_slot="blue", detail={}
    )
    with pytest.raises(TransitionError, match="cannot go from pending to rolled_back"):
        await book.move(dep, DeploymentStatus.ROLLED_BACK)
    saved = await store.get_deployment(dep.id)
    assert saved is not None and saved.status is DeploymentStatus.PENDING


async def test_settle_on_a_failing_path_logs_an_illegal_move_instead_of_raising_over_the_first_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    book = DeploymentBook(store, wall=Wall(5.0))
    dep = await book.open(
        version="v2", strategy=Strategy.BLUEGREEN, slot="green", actor="a", previous_slot="blue", detail={}
    )
    await book.move(dep, DeploymentStatus.FAILED)
    with caplog.at_level(logging.ERROR, logger="slipway.deployments"):
        await book.settle(dep, DeploymentStatus.LIVE)
    assert f"could not record deployment {dep.id} as live" in caplog.text
    saved = await store.get_deployment(dep.id)
    assert saved is not None and saved.status is DeploymentStatus.FAILED


async def test_a_rollback_marks_only_the_live_deployment_of_that_slot_with_its_reason(store: Store) -> None:
    book = DeploymentBook(store, wall=Wall(10.0))
    opened = {}
    for slot, status in (("green", DeploymentStatus.LIVE), ("blue", DeploymentStatus.LIVE)):
        dep = await book.open(
            version=f"v-{slot}", strategy=Strategy.BLUEGREEN, slot=slot, actor="a", previous_slot=None,
            detail={"endpoint": "http://127.0.0.1:1"},
        )  # fmt: skip
        await book.move(dep, status)
        opened[slot] = dep.id
    await book.live_to_rolled_back("green", "billing accuracy fell")
    green = await store.get_deployment(opened["green"])
    blue = await store.get_deployment(opened["blue"])
    assert green is not None and blue is not None
    assert green.status is DeploymentStatus.ROLLED_BACK
    assert green.detail == {"endpoint": "http://127.0.0.1:1", "rollback_reason": "billing accuracy fell"}
    assert blue.status is DeploymentStatus.LIVE


async def test_switching_to_a_staged_slot_makes_its_deployment_live_with_the_slot_it_replaced(
    store: Store,
) -> None:
    book = DeploymentBook(store, wall=Wall(10.0))
    dep = await book.open(
        version="v3", strategy=Strategy.BLUEGREEN, slot="green", actor="a", previous_slot=None, detail={}
    )
    await book.move(dep, DeploymentStatus.STAGED)
    await book.staged_to_live("green", previous="blue")
    saved = await store.get_deployment(dep.id)
    assert saved is not None
    assert (saved.status, saved.previous_slot) == (DeploymentStatus.LIVE, "blue")
