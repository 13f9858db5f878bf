"""A canary's or a bake's own monitoring windows: when it checks, when it ends stable, what it says."""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.unit.rollout.test_canary_machine import PLAN, notes, started, thin_billing, verdict

from slipway.core.canary_schedule import CanarySchedule
from slipway.core.config import BakeConfig
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.canary import CanaryState, CanaryStatus, Effect, Notify, Record, Tick
from slipway.rollout.strategies.canary_state import next_check_at, view

MIN = 60.0


def baked(windows: str, now: float = 0.0) -> tuple[CanaryState, list[Effect]]:
    plan = BakeConfig.model_validate({"windows": windows}).schedule(PLAN)
    return canary.start_bake(
        plan, deployment_id="d1", version="v2.2", baseline="blue", candidate="green", actor="ann",
        now=now, reference=(1e9 - 86400, 1e9), route_version=7,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("since", "due"),
    [(0, 2), (1, 2), (2, 4), (9, 10), (10, 17), (17, 24), (20, 24), (24, 30), (30, 32)],
)
def test_checks_follow_the_schedules_own_windows(since: float, due: float) -> None:
    # Each window counts from its own start: every 2 min to 10, every 7 min to 30 (the last one short).
    plan = CanarySchedule.parse(windows="10m every 2m, 30m every 7m", interval="2m")
    state = replace(
        started(plan), status=CanaryStatus.PROMOTED, promoted_at=100.0, last_check_at=100.0 + since * MIN
    )
    # Past the last window and not stable yet (waiting for labels): every interval.
    assert next_check_at(state) == 100.0 + due * MIN


def test_a_bake_with_ten_minute_windows_ends_stable_at_ten_minutes() -> None:
    state, effects = baked("10m every 1m", now=1000.0)
    started_note = next(e.notification for e in effects if isinstance(e, Notify))
    assert "every 1 min for the first 10 min. A rollback verdict switches back" in started_note.text
    assert "week" not in started_note.text
    assert next_check_at(state) == 1000.0 + MIN
    for minute in range(1, 10):
        state, effects = canary.step(state, Tick(verdict("pass")), now=1000.0 + minute * MIN)
        assert state.status is CanaryStatus.PROMOTED, minute
        assert next_check_at(state) == 1000.0 + (minute + 1) * MIN
    assert view(state, 1000.0 + 9 * MIN)["monitoring"]["left_s"] == MIN
    state, effects = canary.step(state, Tick(verdict("pass")), now=1000.0 + 10 * MIN)
    assert state.status is CanaryStatus.STABLE and next_check_at(state) is None
    assert state.reason == "10 min of clean checks after promotion"
    assert notes(effects) == ["bake.stable"]
    stable = next(e.event for e in effects if isinstance(e, Record) and e.event.kind == "stable")
    assert stable.reason.startswith("v2.2 is stable after 10 min; blue may be unloaded")


def test_a_bake_runs_the_windows_it_started_with_after_a_restart() -> None:
    state, _ = baked("10m every 1m")
    again = CanaryState.from_dict(state.to_dict())
    assert again == state and again.schedule.stable_after_s == 600
    shown = view(again, 0.0)
    assert shown["windows"] == ["10m every 1m"] and shown["stable_after_s"] == 600
    assert shown["windows_text"] == "every 1 min for the first 10 min"


def test_a_promotion_says_the_canarys_windows() -> None:
    plan = CanarySchedule.parse("5%:2h,100%", windows="1h every 5m, 3d every 6h")
    state, effects = canary.step(started(plan), Tick(verdict("pass")), now=2 * 3600)
    promoted = next(e.notification for e in effects if isinstance(e, Notify))
    assert "Monitoring windows: every 5 min for the first hour, every 6 h to 3 days." in promoted.text
    state, effects = canary.step(state, Tick(verdict("pass")), now=2 * 3600 + 3 * 86400)
    assert state.status is CanaryStatus.STABLE and notes(effects) == ["monitor.stable"]


def test_the_default_windows_still_say_a_week() -> None:
    state = replace(started(), status=CanaryStatus.PROMOTED, promoted_at=0.0, phase=2)
    state, effects = canary.step(state, Tick(verdict("pass")), now=7 * 86400)
    assert state.reason == "a clean week after promotion"
    assert any(isinstance(e, Record) and "is stable after a week;" in e.event.reason for e in effects)


def test_labels_missing_at_the_end_of_short_windows_wait_past_it_not_past_a_week() -> None:
    state, _ = baked("10m every 1m")
    state, effects = canary.step(state, Tick(thin_billing(covered=False)), now=10 * MIN)
    assert state.status is CanaryStatus.PROMOTED and notes(effects) == ["monitor.not_stable"]
    assert any(isinstance(e, Record) and "not stable yet after 10 min" in e.event.reason for e in effects)
    # Still short once the hold limit (4 h) has passed the windows' end: the plan's policy decides.
    state, _ = canary.step(state, Tick(thin_billing(covered=False)), now=10 * MIN + 4 * 3600)
    assert state.status is CanaryStatus.ROLLED_BACK and "inconclusive after 10 min" in state.reason
