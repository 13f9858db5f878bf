"""The drift watch on a real SQLite store: its reference, the live window, and when it tells people.

Each comparison is made by calling `check` directly, so the test decides
exactly how many comparisons happen; the records are written to the store
the way the gateway's recorder writes them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.clock import ManualClock

from slipway.app.drift_watch import DriftWatch
from slipway.core.drift_config import DriftConfig
from slipway.core.lifecycle import RequestInput
from slipway.core.notifications import Notification
from slipway.core.records import RequestRecord
from slipway.core.types import RouteChange, RouteChangeKind, RouteTable, Slot
from slipway.store import Store, default_store_url, open_store

T0 = 1_800_000_000.0
CONFIG = DriftConfig(window=300, reference=600)
SHORT = "where is my parcel"
LONG = "my parcel " + "and more details " * 70  # > 1000 characters


@dataclass
class Routes:
    table: RouteTable
    changes: list[RouteChange] = field(default_factory=list)

    async def history(self, limit: int) -> list[RouteChange]:
        return self.changes[:limit]


@dataclass
class Told:
    notes: list[Notification] = field(default_factory=list)

    def notify(self, notification: Notification) -> None:
        self.notes.append(notification)

    def events(self) -> list[str]:
        return [n.event for n in self.notes]


def table(version: str = "v2.1") -> RouteTable:
    slots = {
        "blue": Slot(name="blue", endpoint="http://127.0.0.1:1", model=version),
        "green": Slot(name="green", endpoint="http://127.0.0.1:2", model="v2.2"),
    }
    return RouteTable(version=1, slots=slots, active="blue")


class Traffic:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.sent = 0

    async def send(self, categories: list[str], slot: str = "blue", texts: list[str] | None = None) -> None:
        """Records as the recorder writes them; with `texts`, each request's input in the same write."""
        records, inputs = [], []
        for i, category in enumerate(categories):
            self.sent += 1
            records.append(
                RequestRecord(
                    request_id=f"r{self.sent:07d}", started_at=T0 + self.sent, slot=slot, version="v2.1",
                    api="openai.chat", stream=False, route_version=1, category=category, status=200,
                )
            )  # fmt: skip
            if texts is not None:
                inputs.append(RequestInput(records[-1].request_id, texts[i], 1))
        await self.store.write_records(records, inputs=inputs)

    async def send_mix(self, n: int, long_every: int) -> None:
        """`n` requests, half billing and half shipping, every `long_every`-th input a long one."""
        texts = [LONG if i % long_every == 0 else SHORT for i in range(n)]
        await self.send(["billing", "shipping"] * (n // 2), texts=texts)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_store(default_store_url(tmp_path))
    try:
        yield opened
    finally:
        await opened.close()


def watch(store: Store, routes: Routes, told: Told) -> DriftWatch:
    return DriftWatch(store=store, routes=routes, notifier=told, config=lambda: CONFIG, clock=ManualClock())


async def test_one_drifted_window_is_not_an_alarm_two_in_a_row_are_told_once_then_cleared(
    store: Store,
) -> None:
    told, traffic = Told(), Traffic(store)
    drift = watch(store, Routes(table()), told)
    await traffic.send(["billing", "shipping"] * 100)
    report = await drift.check(CONFIG)
    assert (report["state"], report["reference_requests"], report["reference_needed"]) == (
        "building",
        200,
        600,
    )
    await traffic.send(["billing", "shipping"] * 300)
    assert (await drift.check(CONFIG))["state"] == "steady"
    await traffic.send(["billing"] * 250)
    first = await drift.check(CONFIG)
    assert (first["state"], first["confirmed"], told.events()) == ("drifted", [], [])
    second = await drift.check(CONFIG)
    assert second["confirmed"] == ["category"] and told.events() == ["drift.detected"]
    assert "billing rose from 50% to" in told.notes[0].title
    await drift.check(CONFIG)
    assert told.events() == ["drift.detected"]
    await traffic.send(["billing", "shipping"] * 150)
    assert (await drift.check(CONFIG))["state"] == "steady"
    assert told.events() == ["drift.detected", "drift.cleared"]
    assert (await drift.check(CONFIG))["state"] == "steady" and len(told.notes) == 2


async def test_each_version_has_its_own_reference_from_when_it_took_all_traffic(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    routes = Routes(table())
    drift = watch(store, routes, told)
    await traffic.send(["billing"] * 600, slot="blue")
    assert (await drift.check(CONFIG))["state"] == "steady"
    # green takes all traffic with v2.2: its reference starts at that switch, not with blue's requests
    switched_at = T0 + traffic.sent + 0.5
    routes.table = RouteTable(version=2, slots=routes.table.slots, active="green")
    routes.changes = [
        RouteChange(version=2, at=switched_at, kind=RouteChangeKind.SWITCH, from_active="blue",
                    to_active="green", actor="ann", reason="v2.2", from_weights={}, to_weights={})
    ]  # fmt: skip
    await traffic.send(["shipping"] * 100, slot="green")
    report = await drift.check(CONFIG)
    assert (report["version"], report["state"], report["reference_requests"]) == ("v2.2", "building", 100)
    await traffic.send(["shipping"] * 500, slot="green")
    assert (await drift.check(CONFIG))["state"] == "steady"
    assert told.events() == []


async def test_long_inputs_rising_is_told_once_on_length_and_a_steady_mix_is_not(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    drift = watch(store, Routes(table()), told)
    await traffic.send_mix(600, long_every=20)  # the reference: 5 % long
    await traffic.send_mix(300, long_every=20)
    steady = await drift.check(CONFIG)
    assert steady["state"] == "steady" and steady["live_inputs"] == 300
    assert all(d["judged"] for d in steady["dimensions"] if d["dimension"] != "oov"), steady["dimensions"]
    # The engine here has no tokenizer to ask: the out-of-vocabulary rate says so rather than pass silently.
    (oov,) = [d for d in steady["dimensions"] if d["dimension"] == "oov"]
    assert (
        oov["unjudged"]
        == "slot blue's engine (openai) does not expose its tokenizer; llamacpp and vllm slots do"
    )
    assert (await drift.check(CONFIG))["state"] == "steady" and told.events() == []

    await traffic.send_mix(300, long_every=4)  # the latest window: 25 % long, same categories
    first = await drift.check(CONFIG)
    assert (first["state"], first["confirmed"]) == ("drifted", [])
    second = await drift.check(CONFIG)
    assert second["confirmed"] == ["length"], second["dimensions"]
    assert told.events() == ["drift.detected"]
    assert "length: drifted: long inputs (>1000 chars) rose from 5% to 25%" in told.notes[0].title
    (length,) = [d for d in second["dimensions"] if d["dimension"] == "length"]
    assert length["moves"][0]["value"] == "long (>1000 chars)" and length["live_n"] == 300


async def test_requests_without_a_stored_input_count_for_category_only_and_it_is_said(store: Store) -> None:
    told, traffic = Told(), Traffic(store)
    drift = watch(store, Routes(table()), told)
    await traffic.send_mix(600, long_every=20)
    await traffic.send(["billing", "shipping"] * 150)  # inputs not kept (record_inputs: false)
    report = await drift.check(CONFIG)
    by = {d["dimension"]: d for d in report["dimensions"]}
    assert by["category"]["judged"] and report["live_inputs"] == 0
    assert by["length"]["unjudged"] == "only 0 of the 300 latest requests have a stored input, 200 needed"
    assert not any(d["drifted"] for d in report["dimensions"])
