"""How `--sample` and `--until` are read: shares, pair targets, durations, the 30-day cap."""

from __future__ import annotations

import pytest

from slipway.core.errors import ConfigError
from slipway.core.shadow import DEFAULT_EXPIRY_S, parse_expiry, parse_sample, parse_until

DAY = 86_400.0


@pytest.mark.parametrize(("text", "bp"), [("100%", 10_000), ("25%", 2_500), ("2.5", 250), (" 0.01 % ", 1)])
def test_a_sample_is_a_share_in_basis_points(text: str, bp: int) -> None:
    assert parse_sample(text) == bp


@pytest.mark.parametrize("text", ["0%", "150%", "half", ""])
def test_a_sample_outside_0_to_100_percent_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_sample(text)


@pytest.mark.parametrize(
    ("text", "pairs", "seconds"),
    [
        ("2000-pairs", 2000, DEFAULT_EXPIRY_S),  # no duration: the expiry
        ("14d", None, 14 * DAY),  # a duration longer than the default expiry is honoured
        ("2000-pairs,3d", 2000, 3 * DAY),
        ("3d,500 pairs", 500, 3 * DAY),
        ("2d,1d", None, 1 * DAY),
    ],
)
def test_until_names_pairs_a_duration_or_both(text: str, pairs: int | None, seconds: float) -> None:
    until = parse_until(text)
    assert (until.pairs, until.seconds) == (pairs, seconds)


def test_until_without_a_duration_lasts_the_configured_expiry() -> None:
    assert parse_until("100-pairs", expiry_s=parse_expiry("3d")).seconds == 3 * DAY


@pytest.mark.parametrize("text", ["31d", "0-pairs", "soon"])
def test_until_beyond_30_days_or_nonsense_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_until(text)


def test_an_expiry_beyond_30_days_is_refused() -> None:
    with pytest.raises(ConfigError, match="30 days"):
        parse_expiry("45d")
