"""Input drift: a real, sizeable move of the mix is flagged; noise and tiny moves are not."""

from __future__ import annotations

import numpy as np

from slipway.analysis.drift import DriftSettings, compare

CATEGORIES = ["billing", "shipping", "account", "technical"]


def counts(shares: list[float], n: int, seed: int) -> dict[str, int]:
    drawn = np.random.default_rng(seed).multinomial(n, shares)
    return dict(zip(CATEGORIES, (int(x) for x in drawn), strict=True))


def test_billing_rising_ten_points_is_flagged_and_said_in_words() -> None:
    reference = {"category": counts([0.2, 0.4, 0.2, 0.2], 10_000, 1)}
    live = {"category": counts([0.3, 0.35, 0.175, 0.175], 1_000, 2)}
    (found,) = compare(reference, live)
    assert found.drifted and found.unjudged is None
    assert found.moves[0].value == "billing" and 8 < found.moves[0].points < 12
    assert found.words().startswith("category: drifted: billing rose from 20% to ")


def test_the_same_mix_is_steady() -> None:
    reference = {"category": counts([0.2, 0.4, 0.2, 0.2], 10_000, 3)}
    live = {"category": counts([0.2, 0.4, 0.2, 0.2], 1_000, 5)}
    (found,) = compare(reference, live)
    assert not found.drifted and "steady" in found.words()


def test_a_significant_but_tiny_move_on_a_huge_window_is_not_an_alarm() -> None:
    reference = {"category": {"billing": 200_000, "shipping": 800_000}}
    live = {"category": {"billing": 206_000, "shipping": 794_000}}  # +0.6 points, p ≈ 0
    (found,) = compare(reference, live)
    assert found.p_value < 1e-6 and not found.drifted


def test_too_few_live_requests_are_not_judged_and_a_new_value_is_counted() -> None:
    settings = DriftSettings(min_requests=200)
    reference = {"category": {"billing": 500, "shipping": 500}, "script": {"latin": 1000}}
    live = {"category": {"billing": 50, "shipping": 49}, "script": {"latin": 500, "cyrillic": 500}}
    by = {f.dimension: f for f in compare(reference, live, settings)}
    assert by["category"].unjudged == "99 requests, 200 needed" and not by["category"].drifted
    assert by["script"].drifted and by["script"].moves[0].value in ("cyrillic", "latin")
    assert compare(reference, live, settings)[0].dimension == "script"


def test_only_dimensions_both_profiles_have_are_compared() -> None:
    assert compare({"category": {"a": 300}}, {"turns": {"1 turn": 300}}) == []
