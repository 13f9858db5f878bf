"""The demo clock slows down, without a jump, when the machine cannot fill a canary phase in time."""

from __future__ import annotations

import time

import pytest

from slipway.demo.scenario import FIRST_PHASE_REQUESTS, fitted_clock_scale
from slipway.rollout.clock import ScaledClock


def test_a_fast_machine_keeps_the_speed_asked_for() -> None:
    assert fitted_clock_scale(240.0, 200.0) == 240.0


def test_a_slow_machine_gets_a_clock_slow_enough_for_the_first_phase_to_see_its_requests() -> None:
    scale = fitted_clock_scale(240.0, 29.0)
    assert scale == pytest.approx(7200 * 29.0 / FIRST_PHASE_REQUESTS)
    first_phase_real_s = 7200 / scale
    assert 29.0 * first_phase_real_s == pytest.approx(FIRST_PHASE_REQUESTS)


def test_the_clock_never_stops() -> None:
    assert fitted_clock_scale(240.0, 0.0) == 1.0


def test_a_scaled_clock_slowed_down_goes_on_from_where_it_was(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [1_000.0]
    monkeypatch.setattr(time, "time", lambda: wall[0])
    clock = ScaledClock(240.0, anchor=1_000.0)
    wall[0] = 1_010.0
    assert clock.now() == 1_000.0 + 10 * 240
    clock.set_scale(60.0)
    assert clock.now() == 1_000.0 + 10 * 240  # no jump
    wall[0] = 1_011.0
    assert clock.now() == 1_000.0 + 10 * 240 + 60  # slower from here on
    assert clock.scale == 60.0
    with pytest.raises(ValueError, match="positive"):
        clock.set_scale(0)
