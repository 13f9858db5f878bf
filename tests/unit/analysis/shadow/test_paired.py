"""Paired statistics: Wilson, Tango's interval, exact McNemar and Connor's sample size, checked against
known values and by simulation (coverage, power)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from slipway.analysis.shadow.paired import (
    PairedCounts,
    _tango_z,
    drop_bounds,
    drop_interval,
    p_worse,
    pairs_to_detect,
    wilson,
    z_two_sided,
)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (0, 0, 0.0, 1.0)],
)
def test_wilson_known_values(x: int, n: int, low: float, high: float) -> None:
    assert wilson(x, n, 0.95) == pytest.approx((low, high), abs=1e-4)


def test_counts_arithmetic() -> None:
    c = PairedCounts(both_pass=80, regressions=12, improvements=4, both_fail=4)
    assert (c.n, c.production_pass, c.candidate_pass, c.discordant) == (100, 92, 84, 16)
    assert c.drop == pytest.approx(0.08)
    assert c + c == PairedCounts(160, 24, 8, 8)


@pytest.mark.parametrize(("b", "c", "p"), [(10, 0, 0.5**10), (0, 10, 1.0), (0, 0, 1.0), (5, 5, 0.623046875)])
def test_exact_mcnemar(b: int, c: int, p: float) -> None:
    assert p_worse(PairedCounts(50, b, c, 0)) == pytest.approx(p)


def test_tango_statistic_at_zero_is_mcnemars() -> None:
    assert _tango_z(30, 10, 200, 0.0) == pytest.approx((30 - 10) / math.sqrt(40))


@pytest.mark.parametrize(
    "counts", [PairedCounts(12, 1, 7, 1), PairedCounts(59, 6, 16, 80), PairedCounts(90, 0, 0, 10)]
)
def test_tango_bounds_invert_the_score_test(counts: PairedCounts) -> None:
    z = z_two_sided(0.95)
    low, high = drop_interval(counts, 0.95)
    assert -1 <= low <= counts.drop <= high <= 1
    b, c, n = counts.regressions, counts.improvements, counts.n
    if low > -1:
        assert _tango_z(b, c, n, low) == pytest.approx(z, abs=1e-5)
    if high < 1:
        assert _tango_z(b, c, n, high) == pytest.approx(-z, abs=1e-5)


def test_one_sided_bound_leaves_the_other_side_open() -> None:
    counts = PairedCounts(60, 30, 10, 0)
    low, high = drop_bounds(counts, z_two_sided(0.90), math.inf)
    assert high == 1.0
    assert drop_interval(counts, 0.90)[0] == pytest.approx(low, abs=1e-6)


def test_tango_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(7)
    probs = [0.70, 0.15, 0.05, 0.10]  # both pass, regression, improvement, both fail: drop 0.10
    hits = 0
    runs = 1500
    for table in rng.multinomial(60, probs, size=runs):
        low, high = drop_interval(PairedCounts(*(int(x) for x in table)), 0.95)
        hits += low <= 0.10 <= high
    assert 0.93 <= hits / runs <= 0.975


def test_connor_sample_size_known_value_and_direction() -> None:
    # (1.645·√.05 + 0.8416·√(.05 − .0025))² / .05² = 121.6
    assert pairs_to_detect(0.05, 0.05, 0.05) == 122
    assert pairs_to_detect(0.02, 0.10, 0.05) > pairs_to_detect(0.05, 0.10, 0.05)
    assert pairs_to_detect(0.05, 0.30, 0.05) > pairs_to_detect(0.05, 0.10, 0.05)
    assert pairs_to_detect(0.05, 0.10, 0.001) > pairs_to_detect(0.05, 0.10, 0.05)
    assert pairs_to_detect(0.05, 0.0, 0.05) == pairs_to_detect(0.05, 0.05, 0.05)
    with pytest.raises(ValueError):
        pairs_to_detect(0.0, 0.1, 0.05)


def test_connor_sample_size_gives_the_power_it_promises() -> None:
    drop, psi, alpha = 0.05, 0.15, 0.01
    n = pairs_to_detect(drop, psi, alpha)
    rng = np.random.default_rng(3)
    tables = rng.multinomial(n, [1 - psi, (psi + drop) / 2, (psi - drop) / 2], size=4000)
    b, c = tables[:, 1], tables[:, 2]
    power = float(np.mean(binom.sf(b - 1, b + c, 0.5) <= alpha))
    assert 0.72 <= power <= 0.88
