"""Where a bake's reference window starts: the old slot's own traffic, as recent as possible."""

from __future__ import annotations

from slipway.core.types import RouteChange, RouteChangeKind
from slipway.rollout.strategies.bake import reference_window

HOUR = 3600.0


def change(
    version: int, at: float, to_active: str, kind: RouteChangeKind = RouteChangeKind.CONFIG, **weights: int
) -> RouteChange:
    return RouteChange(
        version=version, at=at, kind=kind, from_active=None, to_active=to_active, actor="ann", reason="",
        to_weights=weights,
    )  # fmt: skip


def test_the_window_is_capped_at_the_longest_reference() -> None:
    history = [
        change(3, 100 * HOUR, "green", RouteChangeKind.DEPLOY),
        change(2, 50 * HOUR, "blue", RouteChangeKind.SLOT),
        change(1, 0.0, "blue", RouteChangeKind.INIT),
    ]
    assert reference_window(history, baseline="blue", switch_version=3, longest_s=24 * HOUR) == (
        76 * HOUR,
        100 * HOUR,
    )


def test_the_window_starts_where_the_old_slot_began_to_serve_everything() -> None:
    history = [
        change(5, 10 * HOUR, "green", RouteChangeKind.DEPLOY),
        change(4, 9 * HOUR, "blue", RouteChangeKind.SLOT),  # the standby restaged: blue still serves all
        change(3, 8 * HOUR, "blue", RouteChangeKind.PROMOTE),  # a canary of blue finished its ramp here
        change(2, 6 * HOUR, "green", RouteChangeKind.CANARY, blue=500),  # blue had only 5 % before
        change(1, 0.0, "green", RouteChangeKind.INIT),
    ]
    assert reference_window(history, baseline="blue", switch_version=5, longest_s=24 * HOUR) == (
        8 * HOUR,
        10 * HOUR,
    )


def test_changes_after_the_switch_are_not_part_of_it() -> None:
    history = [
        change(4, 12 * HOUR, "green", RouteChangeKind.CONFIG),
        change(3, 10 * HOUR, "green", RouteChangeKind.DEPLOY),
        change(2, 2 * HOUR, "blue", RouteChangeKind.SWITCH),
        change(1, 0.0, "green", RouteChangeKind.INIT),
    ]
    assert reference_window(history, baseline="blue", switch_version=3, longest_s=24 * HOUR) == (
        2 * HOUR,
        10 * HOUR,
    )


def test_without_the_switch_in_the_history_the_window_is_empty() -> None:
    history = [change(1, 0.0, "blue", RouteChangeKind.INIT)]
    assert reference_window(history, baseline="blue", switch_version=9, longest_s=HOUR) == (0.0, 0.0)
