"""How a route change is put into words: from where to where, by whom, why, and how loud."""

from __future__ import annotations

import pytest

from slipway.core.notifications import Severity
from slipway.core.types import RouteChangeKind, RouteTable, Slot
from slipway.rollout import machine
from slipway.rollout.route_notes import route_note, serving

BLUE = Slot("blue", "http://127.0.0.1:1", "cs", version="v2.1")
GREEN = Slot("green", "http://127.0.0.1:2", "cs", version="v2.2")
TABLE = RouteTable(version=4, slots={"blue": BLUE, "green": GREEN}, active="blue", previous_active="green")


def test_where_traffic_goes_names_each_slot_its_version_and_its_share() -> None:
    assert serving(TABLE) == "blue (v2.1)"
    split = machine.set_weights(TABLE, {"blue": 9000, "green": 1000}, actor="a", reason="r", now=0)[0]
    assert serving(split) == "blue (v2.1) 90%, green (v2.2) 10%"
    assert serving(None) == "nothing"


@pytest.mark.parametrize(
    ("kind", "forced", "event", "severity"),
    [
        (RouteChangeKind.SWITCH, False, "route.switch", Severity.INFO),
        (RouteChangeKind.ROLLBACK, False, "route.rollback", Severity.WARNING),
        (RouteChangeKind.ROLLBACK, True, "route.rollback", Severity.CRITICAL),
        (RouteChangeKind.DEPLOY, False, "route.deploy", Severity.INFO),
        (RouteChangeKind.SWITCH, True, "route.switch", Severity.CRITICAL),
    ],
)
def test_each_kind_has_its_event_and_a_rollback_or_a_forced_move_is_louder(
    kind: RouteChangeKind, forced: bool, event: str, severity: Severity
) -> None:
    new, change = machine.switch(TABLE, "green", actor="ann", reason="billing fell", now=12.5, kind=kind)
    note = route_note(change, TABLE, new, forced=forced)
    assert (note.event, note.severity, note.at) == (event, severity, 12.5)
    assert "from blue (v2.1) to green (v2.2)" in note.title and "ann" in note.title
    assert note.text == "Why: billing fell\nRoute v5; see slipway history."
    assert note.facts == {
        "route version": "5", "kind": str(kind), "by": "ann", "from": "blue (v2.1)", "to": "green (v2.2)",
    }  # fmt: skip


def test_an_adapter_rollback_says_so() -> None:
    new, change = machine.rollback(TABLE, actor="ann", reason="older adapter was fine", now=0)
    note = route_note(change, TABLE, new, adapter=True)
    assert note.event == "route.adapter_rollback" and note.severity is Severity.WARNING
    assert note.title == "adapter rolled back by ann: traffic moved from blue (v2.1) to green (v2.2)"
    assert note.facts["kind"] == "adapter rollback"
