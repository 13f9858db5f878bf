"""The sequential comparisons: right answers on clear cases, honest under repeated looks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from slipway.analysis.stats import (
    Scale,
    _restricted_difference,
    _restricted_ratio,
    bonferroni,
    compare_quantiles,
    compare_rates,
    compare_spread,
    holm,
    mixture_log_e,
    quantile_bounds,
)

ALPHA = 0.001


@pytest.mark.parametrize(
    ("xc", "nc", "xb", "nb", "scale", "threshold", "estimate", "worse"),
    [
        # error rate, candidate ÷ baseline
        (10, 1000, 100, 10000, Scale.RATIO, 2.0, 1.0, False),
        (60, 1000, 100, 10000, Scale.RATIO, 2.0, 6.0, True),
        (0, 1000, 0, 10000, Scale.RATIO, 2.0, None, False),
        (3, 100, 0, 5000, Scale.RATIO, 2.0, math.inf, False),
        (40, 1000, 0, 10000, Scale.RATIO, 2.0, math.inf, True),
        # accuracy, baseline − candidate in points
        (95, 100, 1900, 2000, Scale.DROP, 0.05, 0.0, False),
        (70, 100, 1900, 2000, Scale.DROP, 0.05, 0.25, True),
        (100, 100, 1900, 2000, Scale.DROP, 0.05, -0.05, False),
        # satisfaction, relative drop
        (400, 500, 4000, 5000, Scale.RELATIVE_DROP, 0.10, 0.0, False),
        (250, 500, 4000, 5000, Scale.RELATIVE_DROP, 0.10, 0.375, True),
    ],
)
def test_rates_estimate_and_significance(
    xc: int, nc: int, xb: int, nb: int, scale: Scale, threshold: float, estimate: float | None, worse: bool
) -> None:
    c = compare_rates(xc, nc, xb, nb, scale=scale, threshold=threshold, alpha=ALPHA)
    if estimate is None:
        assert c.estimate is None
    else:
        assert c.estimate == pytest.approx(estimate)
    assert c.worse is worse
    assert (c.p_value <= ALPHA) is worse
    assert c.lower <= (c.estimate if c.estimate is not None else c.upper) <= c.upper
    assert (c.n_candidate, c.n_baseline) == (nc, nb)
    assert "mixture" in c.test


def test_the_threshold_p_value_needs_more_evidence_than_the_no_change_one() -> None:
    c = compare_rates(75, 100, 1900, 2000, scale=Scale.DROP, threshold=0.05, alpha=ALPHA)
    assert c.p_value < c.p_threshold < 1.0
    assert c.lower > 0.05  # a 20-point drop on 100 labels is beyond 5 points, confidently


def test_more_data_narrows_the_interval_around_the_same_estimate() -> None:
    small = compare_rates(20, 100, 200, 1000, scale=Scale.RATIO, threshold=2.0, alpha=ALPHA)
    large = compare_rates(200, 1000, 2000, 10000, scale=Scale.RATIO, threshold=2.0, alpha=ALPHA)
    assert small.estimate == pytest.approx(large.estimate)
    assert large.upper - large.lower < (small.upper - small.lower) / 2


def test_rates_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one observation"):
        compare_rates(0, 0, 1, 10, scale=Scale.RATIO, threshold=2, alpha=0.01)
    with pytest.raises(ValueError, match="0 <= x <= n"):
        compare_rates(11, 10, 1, 10, scale=Scale.RATIO, threshold=2, alpha=0.01)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "delta"),
    [(20, 90, 1710, 1800, -0.05), (5, 10, 3, 100, 0.2), (3, 40, 38, 40, -0.3), (50, 60, 60, 60, -0.1)],
)
def test_restricted_difference_is_the_constrained_maximum_likelihood(
    x1: int, n1: int, x2: int, n2: int, delta: float
) -> None:
    def minus_loglik(p1: float) -> float:
        p2 = p1 - delta
        return -(
            x1 * math.log(p1) + (n1 - x1) * math.log1p(-p1) + x2 * math.log(p2) + (n2 - x2) * math.log1p(-p2)
        )

    lo, hi = max(0.0, delta) + 1e-9, min(1.0, 1.0 + delta) - 1e-9
    best = minimize_scalar(minus_loglik, bounds=(lo, hi), method="bounded", options={"xatol": 1e-10}).x
    p1, p2 = _restricted_difference(x1, n1, x2, n2, delta)
    assert p1 == pytest.approx(best, abs=1e-6)
    assert p1 - p2 == pytest.approx(delta)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "ratio"), [(10, 1000, 50, 10000, 2.0), (40, 50, 30, 60, 0.9)]
)
def test_restricted_ratio_is_the_constrained_maximum_likelihood(
    x1: int, n1: int, x2: int, n2: int, ratio: float
) -> None:
    def minus_loglik(p2: float) -> float:
        p1 = ratio * p2
        return -(
            x1 * math.log(p1) + (n1 - x1) * math.log1p(-p1) + x2 * math.log(p2) + (n2 - x2) * math.log1p(-p2)
        )

    best = minimize_scalar(minus_loglik, bounds=(1e-9, min(1.0, 1 / ratio) - 1e-9), method="bounded").x
    p1, p2 = _restricted_ratio(x1, n1, x2, n2, ratio)
    assert p2 == pytest.approx(best, rel=1e-4)
    assert p1 == pytest.approx(ratio * p2)


def test_mixture_e_value_grows_with_the_evidence_and_is_below_one_without_it() -> None:
    assert mixture_log_e(0.0, 100, 10) < 0
    assert mixture_log_e(-3.0, 100, 10) < mixture_log_e(0.0, 100, 10)
    assert mixture_log_e(3.0, 100, 10) < mixture_log_e(5.0, 100, 10)
    assert mixture_log_e(2.0, 0, 10) == 0.0


@pytest.mark.parametrize(("p", "nc", "nb"), [(0.01, 60, 1140), (0.9, 15, 285), (0.5, 20, 60)])
def test_an_identical_candidate_is_rarely_flagged_however_often_it_is_checked(
    p: float, nc: int, nb: int
) -> None:
    """A/A, 30 looks each: the chance of ever flagging stays under alpha (here generous, 0.05)."""
    rng = np.random.default_rng(4)
    alpha, runs, flagged = 0.05, 300, 0
    scale = Scale.RATIO if p < 0.5 else Scale.DROP
    for _ in range(runs):
        xc = xb = n_c = n_b = 0
        for _look in range(30):
            xc += rng.binomial(nc, p)
            xb += rng.binomial(nb, p)
            n_c, n_b = n_c + nc, n_b + nb
            if compare_rates(xc, n_c, xb, n_b, scale=scale, threshold=2.0 if scale is Scale.RATIO else 0.05,
                             alpha=alpha).p_value <= alpha:  # fmt: skip
                flagged += 1
                break
    assert flagged / runs <= alpha


def test_quantiles_see_a_slower_candidate_and_not_an_identical_one() -> None:
    rng = np.random.default_rng(1)
    base = rng.lognormal(6.5, 0.5, 5000)
    same = rng.lognormal(6.5, 0.5, 400)
    slow = rng.lognormal(6.5, 0.5, 400) * 1.6
    c_same = compare_quantiles(base, same, q=0.95, threshold=1.5, alpha=ALPHA)
    c_slow = compare_quantiles(base, slow, q=0.95, threshold=1.5, alpha=ALPHA)
    assert not c_same.worse and c_same.lower < 1 < c_same.upper
    assert c_slow.worse and c_slow.p_value <= ALPHA
    assert c_slow.estimate == pytest.approx(1.6, rel=0.15)
    assert c_slow.estimate is not None
    assert c_slow.lower < c_slow.estimate < c_slow.upper
    assert c_slow.p_threshold > c_slow.p_value


def test_quantile_bounds_cover_the_truth_and_widen_for_small_samples() -> None:
    rng = np.random.default_rng(2)
    truth = float(np.exp(6.5 + 0.5 * 1.6448536269514722))  # lognormal p95
    few = quantile_bounds(np.sort(rng.lognormal(6.5, 0.5, 200)), 0.95, 0.01)
    many = quantile_bounds(np.sort(rng.lognormal(6.5, 0.5, 20000)), 0.95, 0.01)
    assert few[0] < truth < few[1]
    assert many[0] < truth < many[1]
    assert many[1] - many[0] < few[1] - few[0]
    assert quantile_bounds(np.array([]), 0.95, 0.01) == (0.0, math.inf)
    assert quantile_bounds(np.arange(10.0), 0.95, 0.01)[1] == math.inf  # too few for an upper bound


def test_spread_sees_a_doubled_variance() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(300, 50, 5000)
    wide = rng.normal(300, 50 * 1.8, 500)  # variance ×3.2
    same = rng.normal(300, 50, 500)
    assert compare_spread(base, wide, threshold=2.0, alpha=ALPHA).worse
    assert compare_spread(base, wide, threshold=2.0, alpha=ALPHA).estimate == pytest.approx(3.24, rel=0.2)
    assert not compare_spread(base, same, threshold=2.0, alpha=ALPHA).worse
    constant = compare_spread(np.full(100, 7.0), np.full(100, 7.0), threshold=2.0, alpha=ALPHA)
    assert constant.estimate is None and not constant.worse


@pytest.mark.parametrize(
    ("p_values", "weights", "expected"),
    [
        ([0.01, 0.04, 0.03], None, [0.03, 0.06, 0.06]),
        ([0.5], None, [0.5]),
        ([0.001, 0.2], [3.0, 1.0], [0.001 * 4 / 3, 0.2]),
        ([0.02, 0.02], [1.0, 1.0], [0.04, 0.04]),
    ],
)
def test_holm(p_values: list[float], weights: list[float] | None, expected: list[float]) -> None:
    assert holm(p_values, weights) == pytest.approx(expected)


def test_bonferroni_and_holm_refuse_bad_weights() -> None:
    assert bonferroni([0.01, 0.02]) == pytest.approx([0.02, 0.04])
    assert bonferroni([0.01, 0.02], [3.0, 1.0]) == pytest.approx([0.01 * 4 / 3, 0.08])
    with pytest.raises(ValueError, match="positive weight"):
        holm([0.1, 0.2], [1.0, 0.0])
