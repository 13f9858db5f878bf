"""RouteController.move: what it checks, what it refuses, what force records, and races with the check."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest

from slipway.core.deployments import Deployment
from slipway.core.errors import ConflictError, TransitionError
from slipway.core.types import RouteChange, RouteChangeKind, RouteTable, Slot, SlotHealth
from slipway.rollout.controller import RouteController, newly_serving
from slipway.rollout.deployment_book import DeploymentBook

BLUE = Slot("blue", "http://127.0.0.1:1", "cs-v2.1")
GREEN = Slot("green", "http://127.0.0.1:2", "cs-v2.2")
RED = Slot("red", "http://127.0.0.1:3", "cs-v2.3")
TABLE = RouteTable(version=1, slots={"blue": BLUE, "green": GREEN, "red": RED}, active="blue")


class Store:
    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.changes: list[RouteChange] = []

    async def load_routes(self) -> RouteTable | None:
        return self.table

    async def commit_routes(
        self, table: RouteTable, *, expected_version: int, change: RouteChange
    ) -> RouteTable:
        if self.table.version != expected_version:
            raise ConflictError("lost")
        self.table = replace(table, version=expected_version + 1)
        self.changes.append(change)
        return self.table

    async def route_history(self, limit: int = 100) -> list[RouteChange]:
        return self.changes[::-1][:limit]

    async def route_version(self) -> int:
        return self.table.version

    def publish(self, table: RouteTable) -> None:
        pass

    async def save_deployment(self, deployment: Deployment) -> None:
        pass

    async def list_deployments(self, limit: int = 50) -> list[Deployment]:
        return []

    async def get_deployment(self, deployment_id: str) -> Deployment | None:
        return None


class Backend:
    """Ready unless named in `down`; `during_check` runs while a check is in flight (a race)."""

    def __init__(self, down: set[str] | None = None) -> None:
        self.down = down or set()
        self.checked: list[str] = []
        self.during_check: Any = None

    async def check(self, slot: Slot) -> SlotHealth:
        self.checked.append(slot.name)
        if self.during_check is not None:
            hook, self.during_check = self.during_check, None
            await hook()
        await asyncio.sleep(0)
        if slot.name in self.down:
            return SlotHealth(False, False, "connection refused")
        return SlotHealth(True, True, "serves it")

    async def complete(self, slot: Slot, request: dict[str, Any]) -> str:
        raise AssertionError("not used")


async def controller(backend: Backend, table: RouteTable = TABLE) -> tuple[RouteController, Store]:
    store = Store(table)
    ctl = RouteController(store, store, DeploymentBook(store), backend)
    await ctl.load()
    return ctl, store


@pytest.mark.parametrize(
    ("old", "new", "checked"),
    [
        (None, TABLE, ["blue"]),
        (TABLE, replace(TABLE, active="green"), ["green"]),
        (TABLE, replace(TABLE, slots={**TABLE.slots, "green": replace(GREEN, endpoint="http://x:9")}), []),
        (
            TABLE,
            replace(TABLE, slots={**TABLE.slots, "blue": replace(BLUE, endpoint="http://x:9")}),
            ["blue"],
        ),
        (TABLE, replace(TABLE, weights={"blue": 9_500, "green": 500}), ["green"]),
        (replace(TABLE, weights={"blue": 9_500, "green": 500}), replace(TABLE, active="green"), []),
    ],
)
def test_only_slots_that_start_taking_traffic_or_change_are_checked(
    old: RouteTable | None, new: RouteTable, checked: list[str]
) -> None:
    assert newly_serving(old, new) == checked


async def test_a_switch_to_a_slot_that_is_down_is_refused_with_the_reason_and_how_to_force() -> None:
    ctl, store = await controller(Backend(down={"green"}))
    with pytest.raises(TransitionError) as info:
        await ctl.switch_to("green", actor="ops", reason="r")
    assert "slot 'green' (http://127.0.0.1:2) is not ready: connection refused" in info.value.message
    assert info.value.hint is not None and "slipway switch green --force" in info.value.hint
    assert store.changes == [] and ctl.table.active == "blue"


async def test_force_moves_traffic_and_says_so_in_the_history() -> None:
    ctl, store = await controller(Backend(down={"green"}))
    moved = await ctl.switch_to("green", actor="ops", reason="drill", force=True)
    assert moved.change is not None and moved.change.to_active == "green"
    assert store.changes[-1].reason.startswith("drill; forced past the readiness check: slot 'green'")


async def test_a_rollback_planned_again_after_the_route_moved_during_its_check_checks_its_new_target() -> (
    None
):
    backend = Backend()
    ctl, store = await controller(backend, replace(TABLE, previous_active="green"))

    async def someone_switches_first() -> None:
        await ctl.switch_to("red", actor="other", reason="meanwhile")

    backend.during_check = someone_switches_first
    moved = await ctl.roll_back(actor="ops", reason="back")
    # Planned on blue (-> green), then blue -> red won; on the table of that moment "back" is blue.
    assert moved.change is not None
    assert (moved.change.from_active, moved.change.to_active) == ("red", "blue")
    assert [c.to_active for c in store.changes] == ["red", "blue"]
    assert "blue" in backend.checked


async def test_asking_for_what_already_is_changes_nothing_and_says_so() -> None:
    ctl, store = await controller(Backend())
    moved = await ctl.switch_to("blue", actor="ops", reason="r")
    assert moved.change is None and moved.table.version == 1 and store.changes == []
    moved = await ctl.roll_back(to="blue", actor="ops", reason="r")
    assert moved.change is None


async def test_a_config_table_that_keeps_a_down_slot_as_it_was_is_not_blocked_by_it() -> None:
    backend = Backend(down={"blue"})
    ctl, store = await controller(backend)
    edited = replace(TABLE, slots={**TABLE.slots, "green": replace(GREEN, read_timeout_s=30.0)})
    await ctl.apply_table(edited, actor="config-file", reason="timeout edit")
    assert backend.checked == [] and store.changes[-1].reason == "timeout edit"


async def test_a_route_that_never_settles_gives_up_with_a_conflict() -> None:
    backend = Backend()
    ctl, _store = await controller(backend)
    flips = iter(range(100))

    async def churn() -> None:
        await ctl.switch_to("red" if next(flips) % 2 else "green", actor="other", reason="churn", force=True)
        backend.during_check = churn

    backend.during_check = churn
    endpoint = iter(range(100))

    def plan(old: RouteTable) -> tuple[RouteTable, RouteChange]:
        # A new definition every time, so every plan needs a new check.
        slot = replace(BLUE, endpoint=f"http://127.0.0.1:{1000 + next(endpoint)}")
        new = replace(old, version=old.version + 1, slots={**old.slots, "blue": slot}, active="blue")
        return new, RouteChange(new.version, 0.0, RouteChangeKind.SWITCH, old.active, "blue", "ops", "r")

    with pytest.raises(ConflictError, match="kept changing"):
        await ctl.move(plan, force_hint="-")
