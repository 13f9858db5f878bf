"""A drill's pin routes only requests carrying the running drill's token; every other value is a user's."""

from __future__ import annotations

import pytest

from slipway.core.types import DrillPin, RouteTable, Slot
from slipway.gateway.routing import compile_routes, drill_slot, pick
from slipway.gateway.validation import MAX_DRILL_TOKEN_CHARS, ClientLabels, client_labels, drill_token

TOKEN = "q8Zr2m0H1yX9cV4bN7tA5sD3fG6hJ8kL0pO2iU4yT1w"


def table(pin: DrillPin | None, weights: dict[str, int] | None = None) -> RouteTable:
    slots = {
        n: Slot(name=n, endpoint=f"http://127.0.0.1:{9000 + i}", model=n)
        for i, n in enumerate(("blue", "green"))
    }
    return RouteTable(version=3, slots=slots, active="blue", weights=weights or {}, drill=pin)


PIN = DrillPin(id=TOKEN, slot="green", actor="ops", started_at=1.0)


@pytest.mark.parametrize(
    ("pin", "token", "weights", "expected"),
    [
        # The running drill's token goes to the pinned slot, whatever the weights say.
        (PIN, TOKEN, None, "green"),
        (PIN, TOKEN, {"blue": 9_500, "green": 500}, "green"),
        (DrillPin(id=TOKEN, slot="blue"), TOKEN, None, "blue"),
        # Anything else is routed like a user's request: no pin, no token, a wrong or stale one.
        (None, TOKEN, None, None),
        (PIN, None, None, None),
        (PIN, "", None, None),
        (PIN, TOKEN[:-1], None, None),
        (PIN, TOKEN + "x", None, None),
        (PIN, TOKEN.upper(), None, None),
        (PIN, "green", None, None),
        # A pin naming a slot the table no longer has routes nothing.
        (DrillPin(id=TOKEN, slot="gone"), TOKEN, None, None),
    ],
)
def test_only_the_running_drills_token_follows_the_pin(
    pin: DrillPin | None, token: str | None, weights: dict[str, int] | None, expected: str | None
) -> None:
    routes = compile_routes(table(pin, weights))
    slot = drill_slot(routes, token)
    assert (slot.name if slot is not None else None) == expected


def test_a_pin_never_changes_where_users_go() -> None:
    with_pin = compile_routes(table(PIN, {"blue": 9_000, "green": 1_000}))
    without = compile_routes(table(None, {"blue": 9_000, "green": 1_000}))
    draws = [i / 1_000 for i in range(1_000)]
    assert [pick(with_pin, None, d) for d in draws] == [pick(without, None, d) for d in draws]
    assert [pick(with_pin, f"user-{i}", 0.0) for i in range(200)] == [
        pick(without, f"user-{i}", 0.0) for i in range(200)
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, None),
        (b"", None),
        (TOKEN.encode(), TOKEN),
        (b"x" * MAX_DRILL_TOKEN_CHARS, "x" * MAX_DRILL_TOKEN_CHARS),
        (b"x" * (MAX_DRILL_TOKEN_CHARS + 1), None),  # too long to be a token: ignored, not refused
        ("é".encode(), None),  # not ASCII: ignored, not refused
        (b"\xff\xfe", None),
    ],
)
def test_the_drill_header_is_read_leniently_and_never_refused(
    raw: bytes | None, expected: str | None
) -> None:
    assert drill_token(raw) == expected
    headers = {b"x-slipway-drill": raw} if raw is not None else {}
    labels = client_labels(headers, {})
    assert isinstance(labels, ClientLabels) and labels.drill == expected
