"""The monitoring windows after a promotion or a switch: written, checked, stored, and said in words."""

from __future__ import annotations

import pytest

from slipway.core.canary_schedule import (
    DEFAULT_MONITOR_WINDOWS,
    CanarySchedule,
    MonitorWindow,
    parse_windows,
    windows_spec,
    windows_text,
)
from slipway.core.config import BakeConfig, CanaryConfig, parse_config
from slipway.core.errors import ConfigError

DAY = 86400.0
BASE = 'active_slot: blue\nslots: {blue: {model: m, endpoint: "h:1"}}\n'


def test_the_default_is_the_windows_slipway_always_ran() -> None:
    assert [(w.until_s, w.every_s) for w in DEFAULT_MONITOR_WINDOWS] == [
        (3600.0, 300.0),
        (DAY, 1800.0),
        (7 * DAY, DAY),
    ]
    plan = CanarySchedule.parse()
    assert plan.windows == DEFAULT_MONITOR_WINDOWS and plan.stable_after_s == 7 * DAY
    assert plan.windows_text == "every 5 min for the first hour, every 30 min to 24 h, daily to a week"


@pytest.mark.parametrize(
    ("spec", "windows"),
    [
        ("10m every 1m", [(600, 60)]),
        ("30m every 5m, 2h every 30m", [(1800, 300), (7200, 1800)]),
        (["1h every 5m", "3d every 6h"], [(3600, 300), (3 * DAY, 6 * 3600)]),
        ("  2H EVERY 1h30m ", [(7200, 5400)]),
        ("1h every 1h", [(3600, 3600)]),  # one check, at the end of the window
        ("90d every 1d", [(90 * DAY, DAY)]),
        (", ".join(f"{i}h every 1h" for i in range(1, 21)), [(i * 3600, 3600) for i in range(1, 21)]),
    ],
)
def test_windows_are_written_until_every(spec: str | list[str], windows: list[tuple[float, float]]) -> None:
    assert [(w.until_s, w.every_s) for w in parse_windows(spec)] == windows


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "has no windows: the watch needs at least one"),
        ([], "has no windows"),
        ("1h", r"window '1h' is not UNTIL every EVERY\. e\.g\. 1h every 5m"),
        ("1h every 5m,, 2h every 10m", "an empty window"),
        ("1h every 0m", "window '1h every 0m': every '0m' must be longer than zero"),
        ("1h every 5", "every '5' is not a duration. add a unit"),
        ("soon every 5m", "until 'soon' is not a duration"),
        ("1h every 2h", r"checks every 2h, longer than the window itself \(the start to 1h\)"),
        ("1h every 5m, 2h every 90m", r"checks every 1h30m, longer than the window itself \(1h to 2h\)"),
        ("24h every 30m, 1h every 5m", r"ends at 1h, not after the window before it \(1d\)"),
        ("1h every 5m, 1h every 10m", "each window's until must be later than the last"),
        ("100d every 1d", "the last window ends at 100d; the watch may last at most 90 days"),
        (", ".join(f"{i}h every 1h" for i in range(1, 22)), "has 21 windows; at most 20 are allowed"),
    ],
)
def test_bad_windows_name_the_field_the_window_and_the_fix(spec: str | list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_windows(spec, what="bake.windows")
    assert str(caught.value).startswith("bake.windows")
    assert caught.value.hint


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("10m every 1m", "every 1 min for the first 10 min"),
        ("1h every 5m, 3d every 6h", "every 5 min for the first hour, every 6 h to 3 days"),
        ("2h every 1h, 14d every 1d", "hourly for the first 2 h, daily to 14 days"),
        ("90s every 30s", "every 30 s for the first 90 s"),
    ],
)
def test_windows_in_words(spec: str, words: str) -> None:
    assert windows_text(parse_windows(spec)) == words


def test_the_windows_print_in_the_syntax_they_are_read_in() -> None:
    windows = parse_windows("30m every 5m, 36h every 2h")
    assert windows_spec(windows) == "30m every 5m, 1d12h every 2h"
    assert parse_windows(windows_spec(windows)) == windows


def test_a_plan_keeps_its_windows_through_its_dict() -> None:
    plan = CanarySchedule.parse(windows="10m every 1.5s, 1h every 10m")
    stored = plan.to_dict()
    assert stored["windows"] == "10m every 2s, 1h every 10m"  # said rounded, stored exactly
    assert CanarySchedule.from_dict(stored) == plan
    assert CanarySchedule.from_dict(stored).windows[0] == MonitorWindow(600.0, 1.5)


def test_a_plan_stored_before_windows_were_configurable_runs_the_default() -> None:
    stored = CanarySchedule.parse(windows="10m every 1m").to_dict()
    del stored["windows"], stored["window_list"]
    assert CanarySchedule.from_dict(stored).windows == DEFAULT_MONITOR_WINDOWS


def test_the_canary_and_the_bake_take_their_windows_from_their_own_sections() -> None:
    config = parse_config(
        BASE
        + "canary: {windows: '2h every 10m, 2d every 6h'}\n"
        + "bake:\n  windows: ['10m every 1m', '1h every 10m']\n"
    )
    canary_plan = config.canary.schedule()
    assert windows_spec(canary_plan.windows) == "2h every 10m, 2d every 6h"
    baked = config.bake.schedule(canary_plan)
    assert windows_spec(baked.windows) == "10m every 1m, 1h every 10m" and baked.stable_after_s == 3600
    # Everything else in the bake's plan is the canary's.
    assert (baked.interval_s, baked.inconclusive, baked.hold_limit_s) == (
        canary_plan.interval_s,
        canary_plan.inconclusive,
        canary_plan.hold_limit_s,
    )


def test_without_the_fields_nothing_changes() -> None:
    config = parse_config(BASE)
    assert config.canary.schedule().windows == DEFAULT_MONITOR_WINDOWS
    assert config.bake.schedule(config.canary.schedule()).windows == DEFAULT_MONITOR_WINDOWS
    assert CanaryConfig().schedule().windows == BakeConfig().schedule(CanarySchedule.parse()).windows


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ("canary: {windows: '1h every 2h'}", "canary.windows", "longer than the window itself"),
        ("bake: {windows: '2h every 5m, 1h every 5m'}", "bake.windows", "not after the window before it"),
        ("bake: {windows: ''}", "bake.windows", "at least one"),
    ],
)
def test_a_bad_windows_field_refuses_the_file_naming_field_and_line(
    section: str, field: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(BASE + section + "\n", "slipway.yaml")
    assert caught.value.field == field and caught.value.line == 3
    assert not str(caught.value.message).startswith(field)  # said once, by the field
