"""The canary plan as operators write it: steps, durations, and errors that say what to write instead."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from slipway.core.canary_schedule import (
    CanarySchedule,
    CanaryStep,
    InconclusivePolicy,
    format_duration,
    parse_duration,
    parse_steps,
)
from slipway.core.config import CanaryConfig
from slipway.core.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("0.5h", 1800), (" 2H ", 7200)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("15", "add a unit: 15s, 15m or 15h"),
        ("", "empty"),
        ("2 hours", "not a duration"),
        ("h", "not a duration"),
        ("0m", "longer than zero"),
        ("-5m", "not a duration"),
    ],
)
def test_bad_durations_say_how_to_write_one(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_duration(text, what="interval")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(7200, "2h"), (5400, "1h30m"), (90, "1m30s"), (900, "15m"), (0, "0s"), (0.25, "0.25s")],
)
def test_durations_print_in_the_same_syntax(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_the_seed_plan() -> None:
    assert parse_steps("5%:2h,25%:4h,100%") == (
        CanaryStep(500, 7200),
        CanaryStep(2500, 14400),
        CanaryStep(10_000, None),
    )
    plan = CanarySchedule.parse()
    assert plan.steps_text == "5%:2h,25%:4h,100%" and plan.interval_s == 900
    assert plan.inconclusive is InconclusivePolicy.ROLLBACK and plan.hold_limit_s == 4 * 3600


def test_fractional_weights_and_a_list_form() -> None:
    assert parse_steps(["0.5%:30m", "12.25%:1h", "100%"])[:2] == (
        CanaryStep(50, 1800),
        CanaryStep(1225, 3600),
    )


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ("5:2h,100%", "needs a percent sign"),
        ("5%:2h,25%:4h", "a canary ends at 100%"),
        ("25%:2h,5%:4h,100%", "weights must increase"),
        ("5%,100%", "needs a duration"),
        ("5%:2h,100%:1h", "100 % is the promotion"),
        ("100%", "at least one step below 100%"),
        ("0%:1h,100%", "above 0 %"),
        ("150%:1h,100%", "at most 100 %"),
        ("0.001%:1h,100%", "steps of 0.01 %"),
        ("5%:2x,100%", "not a duration"),
        ("5%:2h,,100%", "empty step"),
        ("", "no steps"),
        ("abc%:1h,100%", "not a percentage"),
    ],
)
def test_bad_steps_name_the_item_and_the_fix(steps: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_steps(steps)
    assert caught.value.hint


def test_an_unknown_inconclusive_policy_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="extend, hold, rollback"):
        CanarySchedule.parse(inconclusive="maybe")


def test_a_plan_round_trips_exactly_through_its_dict() -> None:
    plan = CanarySchedule.parse(
        "1%:1.5s,30%:10m,100%", "0.25s", inconclusive="extend", hold_limit="1h", monitor=False
    )
    assert CanarySchedule.from_dict(plan.to_dict()) == plan


@pytest.mark.parametrize(
    ("value", "seconds"), [("1m", 60.0), ("30s", 30.0), ("0", 0.0), ("off", 0.0), (0, 0.0), (False, 0.0)]
)
def test_the_guard_interval_is_a_duration_or_off(value: object, seconds: float) -> None:
    assert CanaryConfig.model_validate({"guard_interval": value}).schedule().guard_s == seconds
    assert CanaryConfig().schedule().guard_s == 60.0


def test_a_bad_guard_interval_says_what_to_write() -> None:
    with pytest.raises(ValidationError, match="guard_interval"):
        CanaryConfig.model_validate({"guard_interval": "soon"})
