"""Taking over kept sets: what the store hands over is queued here; an unreadable set costs only itself.

Also the last line of defence under both background loops: a loop that ends
by surprise is logged and started again, never left dead.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from slipway.core.errors import StoreUnavailable
from slipway.core.notifications import Notification
from slipway.notify.background import RESTART_S, Forever
from slipway.notify.kept import Kept, encode
from slipway.notify.takeover import Takeover

PREFIX = "notify_pending:"


class HandingStore:
    """Hands over `sets` at the first take (after `failures` failed ones); records what was asked."""

    def __init__(self, sets: dict[str, str], failures: int = 0) -> None:
        self.sets = sets
        self.failures = failures
        self.asked: list[tuple[str, float, str]] = []

    async def set_meta(self, key: str, value: str) -> None: ...

    async def delete_meta(self, key: str) -> None: ...

    async def take_meta_of_silent(self, prefix: str, *, alive_since: float, mine: str) -> dict[str, str]:
        self.asked.append((prefix, alive_since, mine))
        if self.failures:
            self.failures -= 1
            raise StoreUnavailable("take meta keys: database is down")
        taken, self.sets = self.sets, {}
        return taken


def rollback(title: str) -> Notification:
    return Notification(event="route.rollback", title=title, at=1.0)


async def test_silent_replicas_sets_are_queued_and_an_unreadable_one_is_dropped_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = encode(Kept(webhooks={"https://hooks.example/a": [rollback("canary rolled back")]}))
    store = HandingStore({f"{PREFIX}gone:1": good, f"{PREFIX}gone:2": "{not json"})
    queued: list[Kept] = []

    def requeue(kept: Kept) -> int:
        queued.append(kept)
        return kept.count

    takeover = Takeover(
        store,
        prefix=PREFIX,
        mine=f"{PREFIX}me",
        live_within_s=10,
        requeue=requeue,
        every_s=5,
        clock=lambda: 100,
    )
    with caplog.at_level(logging.INFO, logger="slipway.notify"):
        assert await takeover.once() == 1
    assert store.asked == [(PREFIX, 90, f"{PREFIX}me")]
    assert [[n.title for n in k.webhooks["https://hooks.example/a"]] for k in queued] == [
        ["canary rolled back"]
    ]
    text = caplog.text
    assert "kept by replica gone:1" in text and "gone:2 are unreadable" in text


async def test_a_store_that_fails_is_logged_once_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    good = encode(Kept(email=[rollback("rolled back")]))
    store = HandingStore({f"{PREFIX}gone": good}, failures=3)
    queued: list[Kept] = []

    def requeue(kept: Kept) -> int:
        queued.append(kept)
        return kept.count

    takeover = Takeover(
        store, prefix=PREFIX, mine=f"{PREFIX}me", live_within_s=10, requeue=requeue, every_s=0
    )
    with caplog.at_level(logging.INFO, logger="slipway.notify"):
        takeover.start()
        try:
            for _ in range(10_000):
                if queued:
                    break
                await asyncio.sleep(0.001)
        finally:
            await takeover.close()
    assert [n.title for n in queued[0].email] == ["rolled back"]
    assert caplog.text.count("cannot read the notifications") == 1
    assert caplog.text.count("can be read again") == 1


async def test_a_background_loop_that_ends_by_surprise_is_logged_and_started_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    again = asyncio.Event()

    async def run() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug")
        again.set()
        await asyncio.Event().wait()

    loop = Forever("slipway-test-loop", run)
    with caplog.at_level(logging.CRITICAL, logger="slipway.notify"):
        loop.start()
        try:
            await asyncio.wait_for(again.wait(), 30)
        finally:
            await loop.close()
    assert len(runs) == 2
    assert "slipway-test-loop stopped unexpectedly; restarting it" in caplog.text


async def test_a_loop_closed_while_it_waits_to_restart_stays_closed() -> None:
    runs: list[int] = []

    async def run() -> None:
        runs.append(1)
        raise RuntimeError("a bug")

    loop = Forever("slipway-test-loop", run)
    loop.start()
    while not runs:
        await asyncio.sleep(0)
    await asyncio.sleep(0)  # the task's end is seen: the restart is scheduled, not run
    await loop.close()
    await asyncio.sleep(RESTART_S * 1.5)
    assert runs == [1]
