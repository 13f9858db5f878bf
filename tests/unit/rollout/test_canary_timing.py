"""Will the first canary phase see enough requests? The arithmetic behind the deploy's warning."""

from __future__ import annotations

import pytest

from slipway.core.canary_schedule import CanarySchedule, InconclusivePolicy
from slipway.rollout.strategies.canary_timing import starved_first_phase, stretched_steps, two_figures

SEED = CanarySchedule.parse("5%:2h,25%:4h,100%")


def test_enough_traffic_means_no_warning() -> None:
    # 5 % of 2 h of 24,000/day = 100: exactly the minimum.
    assert starved_first_phase(SEED, 24_000, 100) is None
    assert starved_first_phase(SEED, 23_000, 100) is not None


def test_the_warning_names_the_numbers_and_steps_that_fit() -> None:
    text = starved_first_phase(SEED, 2_400, 100)
    assert text is not None
    assert "~2,400 requests/day" in text and "about 10 requests" in text and "100 per arm" in text
    fitting = stretched_steps(SEED.steps, 2_400, 100)
    assert "--steps " + ",".join(str(s) for s in fitting) in text
    assert starved_first_phase(CanarySchedule(steps=fitting), 2_400, 100) is None


@pytest.mark.parametrize(
    ("policy", "traffic", "warns", "words"),
    [
        (InconclusivePolicy.ROLLBACK, 15_000, True, "roll the candidate back"),
        (InconclusivePolicy.HOLD, 15_000, True, "hold at its weight"),
        # `extend` doubles the phase at most: 2 × 62.5 = 125 ≥ 100
        (InconclusivePolicy.EXTEND, 15_000, False, ""),
        (InconclusivePolicy.EXTEND, 9_000, True, "twice its length and roll back"),
    ],
)
def test_what_an_inconclusive_end_does_decides_the_warning(
    policy: InconclusivePolicy, traffic: float, warns: bool, words: str
) -> None:
    plan = CanarySchedule(steps=SEED.steps, inconclusive=policy)
    text = starved_first_phase(plan, traffic, 100)
    assert (text is not None) is warns
    if warns:
        assert text is not None and words in text


def test_a_faster_clock_shortens_the_phase_in_requests_too() -> None:
    # A drill at 60× time: 2 clock hours are 2 wall minutes.
    assert starved_first_phase(SEED, 24_000, 100) is None
    text = starved_first_phase(SEED, 24_000, 100, clock_scale=60)
    assert text is not None and "about 2 requests" in text


@pytest.mark.parametrize(
    ("rate", "said"),
    [(1440.0, 1400.0), (1439.2, 1400.0), (1416.0, 1400.0), (2400.0, 2400.0), (86.4, 86.0), (0.0, 0.0)],
)
def test_a_measured_rate_is_said_to_two_figures(rate: float, said: float) -> None:
    assert two_figures(rate) == said
