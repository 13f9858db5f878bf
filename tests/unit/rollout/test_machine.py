"""Route transitions: switch, rollback, staging a slot; illegal moves say what to do."""

from __future__ import annotations

import pytest

from slipway.core.deployments import DeploymentStatus
from slipway.core.errors import NotFoundError, TransitionError
from slipway.core.types import BackendKind, RouteChangeKind, RouteTable, Slot
from slipway.rollout import machine
from slipway.rollout.strategies.bluegreen import DeployRequest, choose_standby, staged_slot

BLUE = Slot(name="blue", endpoint="http://127.0.0.1:1", model="m-v1")
GREEN = Slot(name="green", endpoint="http://127.0.0.1:2", model="m-v2")
T = RouteTable(version=4, slots={"blue": BLUE, "green": GREEN}, active="blue")
RED = Slot(name="red", endpoint="http://127.0.0.1:3", model="m-v3")
THREE = RouteTable(version=1, slots={"blue": BLUE, "green": GREEN, "red": RED}, active="blue")


def test_switch_remembers_previous_and_bumps_version() -> None:
    new, change = machine.switch(T, "green", actor="ann", reason="go", now=10.0)
    assert (new.active, new.previous_active, new.version) == ("green", "blue", 5)
    assert (change.from_active, change.to_active, change.kind, change.actor) == (
        "blue",
        "green",
        "switch",
        "ann",
    )


def test_rollback_goes_back_to_previous() -> None:
    green, _ = machine.switch(T, "green", actor="a", reason="r", now=1)
    back, change = machine.rollback(green, actor="b", reason="billing accuracy fell", now=2)
    assert back.active == "blue" and back.previous_active == "green"
    assert change.kind is RouteChangeKind.ROLLBACK and change.reason == "billing accuracy fell"


def test_rollback_with_no_history_and_two_slots_goes_to_the_other() -> None:
    back, change = machine.rollback(T, actor="a", reason="r", now=1)
    assert (back.active, back.previous_active, change.from_active) == ("green", "blue", "blue")


def test_rollback_during_a_split_goes_to_the_active_slot() -> None:
    split = RouteTable(
        version=7,
        slots=T.slots,
        active="blue",
        previous_active="green",
        weights={"blue": 9_500, "green": 500},
    )
    back, change = machine.rollback(split, actor="a", reason="r", now=1)
    assert (back.active, back.weights, change.kind) == ("blue", {}, RouteChangeKind.ROLLBACK)


def test_rollback_clears_canary_weights() -> None:
    canary = RouteTable(version=7, slots=T.slots, active="blue", weights={"blue": 9_500, "green": 500})
    back, _ = machine.rollback(canary, to="blue", actor="a", reason="r", now=1)
    assert back.weights == {} and back.effective_weights() == {"blue": 10_000}


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: machine.rollback(THREE, actor="a", reason="r", now=1), "no previous slot"),
        (lambda: machine.switch(T, "blue", actor="a", reason="r", now=1), "already active"),
        (lambda: machine.put_slot(T, BLUE, actor="a", reason="r", now=1), "serving production"),
        (lambda: choose_standby(T, "blue"), "active and serving"),
        (lambda: staged_slot(T, "red", DeployRequest(version="v3")), "needs an endpoint"),
    ],
)
def test_illegal_moves(call: object, words: str) -> None:
    with pytest.raises(TransitionError) as info:
        call()  # type: ignore[operator]
    assert words in str(info.value)
    assert info.value.hint


def test_an_unknown_slot_is_not_found() -> None:
    with pytest.raises(NotFoundError, match="no slot 'purple'") as info:
        machine.switch(T, "purple", actor="a", reason="r", now=1)
    assert info.value.hint == "choose one of: blue, green"


def test_choose_standby_prefers_previous_active() -> None:
    three = RouteTable(
        version=1,
        slots={**T.slots, "red": Slot(name="red", endpoint="http://127.0.0.1:3", model="x")},
        active="green",
        previous_active="blue",
    )
    assert choose_standby(three, None) == "blue"
    assert choose_standby(T, None) == "green"


def test_staged_slot_keeps_unchanged_fields() -> None:
    slot = staged_slot(T, "green", DeployRequest(version="v2.3", model="m-v2.3"))
    assert slot.endpoint == GREEN.endpoint and slot.model == "m-v2.3" and slot.version == "v2.3"


def test_replace_table_keeps_previous_active() -> None:
    new_cfg = RouteTable(version=0, slots=T.slots, active="green")
    new, _change = machine.replace_table(T, new_cfg, actor="config-file", reason="edit", now=1)
    assert (new.version, new.active, new.previous_active) == (5, "green", "blue")
    first, init = machine.replace_table(None, new_cfg, actor="config-file", reason="start", now=1)
    assert first.version == 1 and init.kind is RouteChangeKind.INIT


@pytest.mark.parametrize(
    ("src", "dst", "ok"),
    [
        (DeploymentStatus.PENDING, DeploymentStatus.SMOKE_TESTING, True),
        (DeploymentStatus.SMOKE_TESTING, DeploymentStatus.LIVE, True),
        (DeploymentStatus.LIVE, DeploymentStatus.ROLLED_BACK, True),
        (DeploymentStatus.SMOKE_FAILED, DeploymentStatus.LIVE, False),
        (DeploymentStatus.ROLLED_BACK, DeploymentStatus.LIVE, False),
    ],
)
def test_deployment_moves(src: DeploymentStatus, dst: DeploymentStatus, ok: bool) -> None:
    if ok:
        machine.check_deployment_move(src, dst)
    else:
        with pytest.raises(TransitionError):
            machine.check_deployment_move(src, dst)


def _adapters(active: str = "blue", previous: str | None = None) -> RouteTable:
    blue = Slot(name="blue", endpoint="engine://e", model="cs", kind=BackendKind.LLAMACPP, adapter="v2.2")
    green = Slot(name="green", endpoint="engine://e", model="cs", kind=BackendKind.LLAMACPP, adapter="v2.1")
    red = Slot(name="red", endpoint="engine://e", model="cs", kind=BackendKind.LLAMACPP)
    slots = {"blue": blue, "green": green, "red": red}
    return RouteTable(version=3, slots=slots, active=active, previous_active=previous)


@pytest.mark.parametrize(
    ("table", "to", "target", "staged_adapter"),
    [
        (_adapters(previous="red"), None, "red", None),
        (_adapters(previous="red"), "v2.1", "green", None),
        (_adapters(previous="red"), "v2.1-2026-01-15-1247examples.gguf", "green", None),
        (_adapters(previous="red"), "v2.0", "red", "v2.0"),
        (_adapters(active="green", previous="blue"), "v1.9", "blue", "v1.9"),
    ],
)
def test_adapter_rollback_prefers_a_slot_serving_it_else_restages_the_standby(
    table: RouteTable, to: str | None, target: str, staged_adapter: str | None
) -> None:
    name, staged = machine.adapter_rollback_plan(table, to)
    assert name == target
    if staged_adapter is None:
        assert staged is None
    else:
        assert staged is not None
        assert (staged.name, staged.adapter, staged.endpoint, staged.version) == (
            target,
            staged_adapter,
            "engine://e",
            staged_adapter,
        )


def test_adapter_rollback_to_what_is_live_is_refused() -> None:
    with pytest.raises(TransitionError, match="already serving"):
        machine.adapter_rollback_plan(_adapters(previous="red"), "v2.2")
