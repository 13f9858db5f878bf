"""Which slot a drill rehearses with, the pin it commits, and the result the checklist reads."""

from __future__ import annotations

import pytest

from slipway.core.errors import ConflictError, NotFoundError, SlipwayError, TransitionError
from slipway.core.types import DrillPin, RouteChangeKind, RouteTable, Slot
from slipway.rollout import machine
from slipway.rollout.strategies.drill import (
    DrillOutcome,
    ReplicaLeg,
    choose_drill_slot,
    drill_result,
    pin_plan,
)


def table(
    names: tuple[str, ...] = ("blue", "green"),
    *,
    active: str = "blue",
    previous: str | None = "green",
    weights: dict[str, int] | None = None,
    pin: DrillPin | None = None,
) -> RouteTable:
    slots = {n: Slot(name=n, endpoint=f"http://127.0.0.1:{9000 + i}", model=n) for i, n in enumerate(names)}
    return RouteTable(
        version=5, slots=slots, active=active, previous_active=previous, weights=weights or {}, drill=pin
    )


@pytest.mark.parametrize(
    ("routes", "requested", "unloaded", "expected"),
    [
        (table(), None, (), "green"),
        (table(("blue", "green", "red"), previous="red"), None, (), "red"),
        (table(previous=None), None, (), "green"),
        (table(("blue", "green", "red")), "red", (), "red"),
        (table(("blue",), previous=None), None, (), "there is no standby slot"),
        (table(("blue", "green", "red"), previous=None), None, (), "several standby slots"),
        (table(), "blue", (), "is the active slot"),
        (table(), "purple", (), "there is no slot 'purple'"),
        (table(weights={"blue": 9_500, "green": 500}), None, (), "takes canary traffic"),
        (table(), None, ("green",), "was unloaded"),
    ],
)
def test_the_drill_slot_is_where_a_rollback_would_go(
    routes: RouteTable, requested: str | None, unloaded: tuple[str, ...], expected: str
) -> None:
    if expected in routes.slots:
        assert choose_drill_slot(routes, requested, unloaded) == expected
        return
    with pytest.raises((TransitionError, NotFoundError)) as refused:
        choose_drill_slot(routes, requested, unloaded)
    assert expected in refused.value.message
    assert isinstance(refused.value, SlipwayError) and refused.value.hint  # every refusal names the fix


def test_pinning_is_a_drill_change_that_moves_no_user() -> None:
    old = table(weights={"blue": 9_000, "green": 1_000})
    planned = pin_plan("tok", "green", actor="ops", reason="drill a: pin", now=10.0, started_at=9.0)(old)
    assert planned is not None
    new, change = planned
    assert new.drill == DrillPin("tok", "green", "ops", 9.0)
    assert (new.version, new.active, new.weights, new.previous_active) == (6, "blue", old.weights, "green")
    assert change.kind is RouteChangeKind.DRILL and (change.from_active, change.to_active) == ("blue", "blue")
    assert change.to_weights == change.from_weights
    # Idempotent: the same pin again commits nothing.
    assert pin_plan("tok", "green", actor="ops", reason="again", now=11.0, started_at=9.0)(new) is None


@pytest.mark.parametrize(
    ("pin", "clears"),
    [(DrillPin("tok", "green"), True), (DrillPin("another drill's", "green"), False), (None, False)],
)
def test_a_drill_clears_only_its_own_pin(pin: DrillPin | None, clears: bool) -> None:
    planned = pin_plan("tok", None, actor="ops", reason="clear", now=1.0, started_at=0.0)(table(pin=pin))
    assert (planned is not None) == clears
    if planned is not None:
        assert planned[0].drill is None


def test_a_config_file_keeps_a_running_drills_pin_while_its_slot_exists() -> None:
    pin = DrillPin("tok", "green")
    kept, _ = machine.replace_table(table(pin=pin), table(), actor="file", reason="saved", now=1.0)
    assert kept.drill == pin
    gone, _ = machine.replace_table(table(pin=pin), table(("blue", "red")), actor="file", reason="", now=1.0)
    assert gone.drill is None


def test_the_result_keeps_the_keys_the_checklist_reads() -> None:
    outcome = DrillOutcome(slot="green", active="blue")
    outcome.there = [
        ReplicaLeg("a", "http://a", switch_ms=12.34, answered=20),
        ReplicaLeg("b", "http://b", 40.0),
    ]
    outcome.back = [ReplicaLeg("a", "http://a", switch_ms=8.0), ReplicaLeg("b", "http://b", switch_ms=9.5)]
    outcome.smoke_passed = True
    result = drill_result(outcome, route_versions=[7, 8, 9, 10])
    assert (result["switch_ms"], result["switch_back_ms"], result["smoke_passed"], result["reason"]) == (
        40.0,
        9.5,
        True,
        None,
    )
    assert [(r["replica"], r["switch_ms"], r["switch_back_ms"]) for r in result["replicas"]] == [
        ("a", 12.3, 8.0),
        ("b", 40.0, 9.5),
    ]
    assert outcome.passed


def test_a_replica_that_never_switched_leaves_no_switch_time_and_the_drill_failed() -> None:
    outcome = DrillOutcome(slot="green", active="blue", reason="green did not answer")
    outcome.there = [
        ReplicaLeg("a", "http://a", switch_ms=5.0),
        ReplicaLeg("b", "http://b", last_error="HTTP 502"),
    ]
    result = drill_result(outcome)
    assert result["switch_ms"] is None and result["switch_back_ms"] is None
    assert result["replicas"][1]["last_error"] == "HTTP 502"
    assert not outcome.passed


@pytest.mark.parametrize(("age_s", "refused"), [(0.0, True), (299.0, True), (300.0, False), (3_600.0, False)])
def test_a_second_drill_cannot_pin_over_a_running_one_but_replaces_a_killed_ones(
    age_s: float, refused: bool
) -> None:
    """Checked on the table the commit is planned on, so two replicas starting at once cannot both pin."""
    now = 10_000.0
    other = DrillPin("another drill's", "green", actor="ops-2", started_at=now - age_s)
    plan = pin_plan("tok", "blue", actor="ops", reason="drill b: pin", now=now, started_at=now)
    if refused:
        with pytest.raises(ConflictError, match="a drill is already running \\(started by ops-2"):
            plan(table(("blue", "green", "red"), pin=other))
        return
    planned = plan(table(("blue", "green", "red"), pin=other))
    assert planned is not None and planned[0].drill == DrillPin("tok", "blue", "ops", now)
