"""Notification delivery outcomes in the store, on SQLite and PostgreSQL: kept newest first, bounded."""

from __future__ import annotations

import pytest

from slipway.core.deliveries import ERROR_MAX, Delivery, Outcome
from slipway.store.database import Store
from slipway.store.repositories import deliveries


def delivery(i: int, **more: object) -> Delivery:
    base: dict[str, object] = {
        "sink": "webhook https://hooks.example.com/…", "event": "route.switch", "title": f"switch {i}",
        "outcome": Outcome.DELIVERED, "attempts": 1, "error": None, "at": 1_767_225_600.0 + i,
    }  # fmt: skip
    base.update(more)
    return Delivery(**base)  # type: ignore[arg-type]


async def test_deliveries_come_back_newest_first_with_long_words_cut(store: Store) -> None:
    failed = delivery(2, outcome=Outcome.FAILED, attempts=4, error="x" * 5000, title="t" * 5000)
    await store.add_deliveries([delivery(1), failed])
    await store.add_deliveries([])
    newest, oldest = await store.list_deliveries(10)
    assert oldest == delivery(1)
    assert (newest.outcome, newest.attempts, newest.at) == (Outcome.FAILED, 4, failed.at)
    assert newest.error == "x" * ERROR_MAX and len(newest.title) == 300
    assert [d.title for d in await store.list_deliveries(1)] == [newest.title]


async def test_only_the_newest_are_kept(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deliveries, "KEEP", 3)
    await store.add_deliveries([delivery(i) for i in range(5)])
    await store.add_deliveries([delivery(5)])
    assert [d.title for d in await store.list_deliveries(10)] == ["switch 5", "switch 4", "switch 3"]
