"""Sequential, anytime-valid comparisons of a candidate arm against a baseline arm.

A canary is checked every 15 minutes on a growing sample, for hours, over
many metrics and categories. A fixed-sample test (t-test, Fisher, Mann-Whitney)
run at every look would find a "significant" difference in an identical
candidate far more often than its nominal level. Every test here is
*anytime-valid*: its p-value may be read at every look, as often as the
controller likes, for as long as it likes (extended phases, restarts,
post-promotion monitoring), and the chance that an identical candidate is
*ever* flagged stays below `alpha` (Ville's inequality). See docs/analysis.md.

Three comparisons, one per kind of data:

* `compare_rates` — proportions (error rate, abort rate, invalid outputs,
  satisfaction, accuracy per category). The effect is a *linear contrast* of
  the two rates, so ratio ("2× production"), absolute ("5 points") and
  relative ("10 % drop") thresholds are one test: H0(e0) says the candidate
  is no worse than effect e0, e.g. p_c − e0·p_b ≤ 0 for a ratio. The signed
  root of its likelihood-ratio statistic (against the rates that maximize the
  likelihood under H0, Farrington–Manning; close to normal even at the small
  counts of a thin category or a rare error) is turned into a one-sided
  normal-mixture
  likelihood ratio (Robbins' mixture, the mSPRT of Johari et al. 2017) over
  the effective sample size: an e-value, and p = 1/e.
* `compare_quantiles` — latency and TTFT p95: a time-uniform confidence
  sequence for each arm's quantile from order statistics (the count of
  observations under the true quantile is a binomial martingale; a normal-
  mixture boundary on it gives ranks; Howard & Ramdas 2022), combined into
  bounds for the ratio of the two quantiles. Nonparametric: latency is skewed,
  multimodal, and only its tail matters.
* `compare_spread` — output-length variance: Brown–Forsythe's idea (absolute
  deviations from each arm's median, whose mean ratio squared estimates the
  variance ratio robustly) tested with the same mixture as the rates.

Every comparison returns a `Comparison`: both arms' values, the effect
estimate, an anytime-valid confidence interval at the level it was asked
for, the sample sizes, the test's name and two anytime-valid p-values —
against "no change" (the evidence that the candidate is worse at all) and
against the threshold (the evidence that it is worse by more than the
smallest effect that matters).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from slipway.analysis.samples import FloatArray

_LOG2 = math.log(2.0)
#: The mixture's prior precision (in effective observations) is 1/θ², θ the effect the test is
#: tuned to, in standard deviations per observation: `TUNED_TO` × the threshold's effect (the
#: failures worth catching fast are well past the threshold). Clipped so that tiny base rates
#: do not make it useless.
TUNED_TO = 2.0
RHO_MIN, RHO_MAX = 1.0, 1000.0
#: The quantile sequence's boundary is tightest near this many observations per arm.
QUANTILE_RHO_N = 200.0
_P_FLOOR = 1e-300


class Scale(StrEnum):
    """How an effect is measured; in every scale a larger effect is a worse candidate."""

    #: candidate ÷ baseline (error rate, latency, variance); "no change" is 1.
    RATIO = "ratio"
    #: baseline − candidate, in points of a proportion (accuracy); "no change" is 0.
    DROP = "drop"
    #: 1 − candidate ÷ baseline (satisfaction); "no change" is 0.
    RELATIVE_DROP = "relative_drop"

    @property
    def null(self) -> float:
        return 1.0 if self is Scale.RATIO else 0.0


@dataclass(frozen=True, slots=True)
class Comparison:
    test: str
    scale: Scale
    #: Each arm's value of the metric (a rate, a p95 in ms, a standard deviation...), None if no data.
    baseline: float | None
    candidate: float | None
    #: The effect on `scale`; None when it is undefined (e.g. 0 ÷ 0).
    estimate: float | None
    #: Anytime-valid bounds: each holds, at every look, with probability ≥ 1 − `alpha`.
    lower: float
    upper: float
    alpha: float
    #: Anytime-valid p-value for "the candidate is no worse than the baseline".
    p_value: float
    #: Anytime-valid p-value for "the candidate is no worse than the threshold".
    p_threshold: float
    threshold: float
    n_baseline: int
    n_candidate: int

    @property
    def worse(self) -> bool:
        """Significantly worse than the baseline at this comparison's level."""
        return self.lower > self.scale.null

    @property
    def interval(self) -> tuple[float, float]:
        return (self.lower, self.upper)


# -- the mixture martingale ------------------------------------------------------


def mixture_log_e(z: float, t: float, rho: float) -> float:
    """Log of the one-sided normal-mixture e-value for a z-statistic observed at effective size t.

    S = z·√t is treated as a Gaussian random walk with unit-variance steps;
    mixing its likelihood ratio over a half-normal prior on the drift with
    precision `rho` gives 2·√(ρ/(t+ρ))·exp(S²/(2(t+ρ)))·Φ(S/√(t+ρ)), a
    nonnegative supermartingale under "drift ≤ 0".
    """
    if t <= 0 or not math.isfinite(z):
        return math.inf if z == math.inf else 0.0
    from scipy.special import log_ndtr  # lazy: scipy is 70 MiB of RSS

    s = z * math.sqrt(t)
    a = t + rho
    return _LOG2 + float(log_ndtr(s / math.sqrt(a))) + s * s / (2.0 * a) - 0.5 * math.log(a / rho)


def _p_from_log_e(log_e: float) -> float:
    return 1.0 if log_e <= 0 else max(math.exp(-log_e), _P_FLOOR)


def _rho_for(theta: float) -> float:
    if not math.isfinite(theta) or theta <= 0:
        return RHO_MAX
    tuned = TUNED_TO * theta
    return min(max(1.0 / (tuned * tuned), RHO_MIN), RHO_MAX)


# -- proportions -------------------------------------------------------------------


def _restricted_ratio(x1: int, n1: int, x2: int, n2: int, ratio: float) -> tuple[float, float]:
    """Maximum-likelihood rates (p1, p2) under p1 = ratio·p2 (Farrington & Manning 1990)."""
    a = (n1 + n2) * ratio
    b = -(n1 * ratio + x1 + n2 + x2 * ratio)
    c = x1 + x2
    p2 = (-b - math.sqrt(max(b * b - 4 * a * c, 0.0))) / (2 * a)
    return ratio * p2, p2


def _restricted_difference(x1: int, n1: int, x2: int, n2: int, delta: float) -> tuple[float, float]:
    """Maximum-likelihood rates (p1, p2) under p1 − p2 = delta (Farrington & Manning 1990)."""
    p1h, p2h = x1 / n1, x2 / n2
    theta = n2 / n1
    a = 1.0 + theta
    b = -(1.0 + theta + p1h + theta * p2h + delta * (theta + 2.0))
    c = delta * delta + delta * (2.0 * p1h + theta + 1.0) + p1h + theta * p2h
    d = -p1h * delta * (1.0 + delta)
    v = b**3 / (27.0 * a**3) - b * c / (6.0 * a * a) + d / (2.0 * a)
    u = math.sqrt(max(b * b / (9.0 * a * a) - c / (3.0 * a), 0.0))
    if v < 0:
        u = -u
    if u == 0:
        p1 = -b / (3.0 * a)
    else:
        w = (math.pi + math.acos(max(-1.0, min(1.0, v / u**3)))) / 3.0
        p1 = 2.0 * u * math.cos(w) - b / (3.0 * a)
    p1 = min(max(p1, max(delta, 0.0)), min(1.0, 1.0 + delta))
    return p1, p1 - delta


def _loglik(x: int, n: int, p: float) -> float:
    """Binomial log-likelihood of x successes in n at rate p, without the constant."""
    total = 0.0
    if x:
        total += x * math.log(p) if p > 0 else -math.inf
    if n - x:
        total += (n - x) * math.log1p(-p) if p < 1 else -math.inf
    return total


@dataclass(frozen=True, slots=True)
class _RateContrast:
    """Candidate x_c/n_c against baseline x_b/n_b; `z(e0)` is the score statistic for "effect ≤ e0"."""

    xc: int
    nc: int
    xb: int
    nb: int
    scale: Scale

    @property
    def pc(self) -> float:
        return self.xc / self.nc

    @property
    def pb(self) -> float:
        return self.xb / self.nb

    def z(self, e0: float) -> float:
        """Positive when the candidate looks worse than effect e0: the signed root of the
        likelihood-ratio statistic against the rates restricted to effect = e0 (their maximum-
        likelihood values, Farrington–Manning). Its tails stay close to normal at small counts,
        where a Wald or score z (variance divided out) overstates the evidence several-fold."""
        if self.scale is Scale.DROP:
            # effect = pb − pc = e0  ⇔  pc − pb = −e0
            rc, rb = _restricted_difference(self.xc, self.nc, self.xb, self.nb, -e0)
            contrast = self.pb - self.pc - e0
        elif self.scale is Scale.RATIO:
            rc, rb = _restricted_ratio(self.xc, self.nc, self.xb, self.nb, e0)
            contrast = self.pc - e0 * self.pb
        else:
            # effect = 1 − pc/pb = e0  ⇔  pc = (1 − e0)·pb
            ratio = max(1.0 - e0, 1e-9)
            rc, rb = _restricted_ratio(self.xc, self.nc, self.xb, self.nb, ratio)
            contrast = ratio * self.pb - self.pc
        if contrast == 0:
            return 0.0
        deviance = 2.0 * (
            _loglik(self.xc, self.nc, self.pc)
            + _loglik(self.xb, self.nb, self.pb)
            - _loglik(self.xc, self.nc, rc)
            - _loglik(self.xb, self.nb, rb)
        )
        return math.copysign(math.sqrt(max(deviance, 0.0)), contrast)

    def effective_n(self) -> float:
        return 1.0 / (1.0 / self.nc + 1.0 / self.nb)

    def rho(self, threshold: float) -> float:
        """Mixture precision tuned to a candidate exactly at the threshold."""
        pb = (self.xb + 1.0) / (self.nb + 2.0)  # smoothed: a zero count still has a rate
        if self.scale is Scale.RATIO:
            effect = (threshold - 1.0) * pb
        elif self.scale is Scale.DROP:
            effect = threshold
        else:
            effect = threshold * pb
        return _rho_for(effect / math.sqrt(pb * (1.0 - pb)))

    def estimate(self) -> float | None:
        if self.scale is Scale.DROP:
            return self.pb - self.pc
        if self.pb == 0:
            if self.scale is Scale.RATIO:
                return None if self.pc == 0 else math.inf
            return None
        ratio = self.pc / self.pb
        return ratio if self.scale is Scale.RATIO else 1.0 - ratio


def compare_rates(
    x_candidate: int,
    n_candidate: int,
    x_baseline: int,
    n_baseline: int,
    *,
    scale: Scale,
    threshold: float,
    alpha: float,
) -> Comparison:
    """Two proportions x/n; "worse" means a higher rate (RATIO) or a lower one (DROP, RELATIVE_DROP)."""
    if n_candidate <= 0 or n_baseline <= 0:
        raise ValueError("compare_rates needs at least one observation in each arm")
    if not (0 <= x_candidate <= n_candidate and 0 <= x_baseline <= n_baseline):
        raise ValueError("compare_rates needs 0 <= x <= n in each arm")
    c = _RateContrast(x_candidate, n_candidate, x_baseline, n_baseline, scale)
    t = c.effective_n()
    rho = c.rho(threshold)

    def log_e(e0: float, sign: float = 1.0) -> float:
        return mixture_log_e(sign * c.z(e0), t, rho)

    lo_bracket, hi_bracket = _bracket(scale)
    lower, upper = _invert(log_e, alpha, lo_bracket, hi_bracket, log_space=scale is Scale.RATIO)
    return Comparison(
        test="two proportions, signed-root likelihood ratio in a normal-mixture sequential test (mSPRT)",
        scale=scale,
        baseline=c.pb,
        candidate=c.pc,
        estimate=c.estimate(),
        lower=lower,
        upper=upper,
        alpha=alpha,
        p_value=_p_from_log_e(log_e(scale.null)),
        p_threshold=_p_from_log_e(log_e(threshold)),
        threshold=threshold,
        n_baseline=n_baseline,
        n_candidate=n_candidate,
    )


def _bracket(scale: Scale) -> tuple[float, float]:
    if scale is Scale.RATIO:
        return (1e-4, 1e4)
    if scale is Scale.DROP:
        return (-1.0, 1.0)
    return (-1e3, 0.999)


def _invert(
    log_e: Callable[[float, float], float], alpha: float, lo: float, hi: float, *, log_space: bool
) -> tuple[float, float]:
    """The confidence sequence: effects not rejected by the one-sided tests in either direction."""
    target = math.log(1.0 / alpha)

    def root(sign: float) -> float:
        def g(u: float) -> float:
            return log_e(math.exp(u) if log_space else u, sign) - target

        a, b = (math.log(lo), math.log(hi)) if log_space else (lo, hi)
        ga, gb = g(a), g(b)
        if sign > 0:  # lower bound: the largest e0 whose "effect ≤ e0" is rejected
            if ga < 0:
                return 0.0 if log_space else -math.inf
            if gb >= 0:
                return hi
        else:  # upper bound: the smallest e0 whose "effect ≥ e0" is rejected
            if gb < 0:
                return math.inf
            if ga >= 0:
                return lo
        from scipy.optimize import brentq  # lazy: scipy is 70 MiB of RSS

        u = float(brentq(g, a, b, xtol=1e-6))
        return math.exp(u) if log_space else u

    return root(1.0), root(-1.0)


# -- quantiles ----------------------------------------------------------------------


def _rank_halfwidth(n: int, q: float, alpha: float) -> float:
    """Time-uniform bound on |#{x ≤ Q(q)} − n·q| (normal mixture, per-step variance q(1−q))."""
    v = q * (1.0 - q)
    rho = v * QUANTILE_RHO_N
    total = n * v + rho
    return math.sqrt(2.0 * total * math.log(math.sqrt(total / rho) / alpha))


def quantile_bounds(ordered: FloatArray, q: float, alpha: float) -> tuple[float, float]:
    """Anytime-valid lower and upper bounds for one arm's q-quantile, from its sorted sample."""
    n = len(ordered)
    if n == 0:
        return (0.0, math.inf)
    g = _rank_halfwidth(n, q, alpha)
    low_rank = math.floor(n * q - g)  # 1-based order statistics
    high_rank = math.ceil(n * q + g)
    lower = float(ordered[low_rank - 1]) if low_rank >= 1 else 0.0
    upper = float(ordered[high_rank - 1]) if high_rank <= n else math.inf
    return (lower, upper)


def _ratio_bounds(cand: FloatArray, base: FloatArray, q: float, alpha: float) -> tuple[float, float]:
    # Each arm's one-sided bound at alpha/2: the ratio's bound holds when both do.
    c_lo, c_hi = quantile_bounds(cand, q, alpha / 2)
    b_lo, b_hi = quantile_bounds(base, q, alpha / 2)
    lower = c_lo / b_hi if b_hi > 0 else 0.0
    upper = c_hi / b_lo if b_lo > 0 else math.inf
    return (lower, upper)


def _smallest_alpha(rejects: Callable[[float], bool]) -> float:
    """The anytime p-value: the smallest level at which `rejects` holds (it is monotone in the level)."""
    if not rejects(0.5):
        return 1.0
    lo, hi = math.log(1e-15), math.log(0.5)
    if rejects(math.exp(lo)):
        return 1e-15
    for _ in range(40):
        mid = (lo + hi) / 2
        if rejects(math.exp(mid)):
            hi = mid
        else:
            lo = mid
    return math.exp(hi)


def compare_quantiles(
    baseline: Sequence[float] | FloatArray,
    candidate: Sequence[float] | FloatArray,
    *,
    q: float,
    threshold: float,
    alpha: float,
) -> Comparison:
    """Ratio of the candidate's q-quantile to the baseline's (e.g. p95 latency)."""
    base = np.sort(np.asarray(baseline, dtype=np.float64))
    cand = np.sort(np.asarray(candidate, dtype=np.float64))
    if len(base) == 0 or len(cand) == 0:
        raise ValueError("compare_quantiles needs at least one observation in each arm")
    qb, qc = float(np.quantile(base, q)), float(np.quantile(cand, q))
    estimate = qc / qb if qb > 0 else (None if qc == 0 else math.inf)
    lower, upper = _ratio_bounds(cand, base, q, alpha)

    def beyond(e0: float) -> Callable[[float], bool]:
        return lambda level: _ratio_bounds(cand, base, q, level)[0] > e0

    return Comparison(
        test=f"p{q * 100:g} ratio, time-uniform order-statistic confidence sequences",
        scale=Scale.RATIO,
        baseline=qb,
        candidate=qc,
        estimate=estimate,
        lower=lower,
        upper=upper,
        alpha=alpha,
        p_value=_smallest_alpha(beyond(1.0)),
        p_threshold=_smallest_alpha(beyond(threshold)),
        threshold=threshold,
        n_baseline=len(base),
        n_candidate=len(cand),
    )


# -- spread ---------------------------------------------------------------------------


def compare_spread(
    baseline: Sequence[float] | FloatArray,
    candidate: Sequence[float] | FloatArray,
    *,
    threshold: float,
    alpha: float,
) -> Comparison:
    """Variance ratio candidate ÷ baseline, robustly: squared ratio of mean absolute deviations."""
    base = np.asarray(baseline, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    nb, nc = len(base), len(cand)
    if nb < 2 or nc < 2:
        raise ValueError("compare_spread needs at least two observations in each arm")
    db = np.abs(base - np.median(base))
    dc = np.abs(cand - np.median(cand))
    mb, mc = float(db.mean()), float(dc.mean())
    # A variance floor of (1 char)² keeps constant outputs from dividing by zero.
    vb = max(float(db.var(ddof=1)), 1.0)
    vc = max(float(dc.var(ddof=1)), 1.0)

    def z(e0: float) -> float:
        return (mc - math.sqrt(e0) * mb) / math.sqrt(vc / nc + e0 * vb / nb)

    t = 1.0 / (1.0 / nc + 1.0 / nb)
    sigma = math.sqrt((vc / nc + vb / nb) * t)
    rho = _rho_for((math.sqrt(threshold) - 1.0) * max(mb, 1.0) / sigma)

    def log_e(e0: float, sign: float = 1.0) -> float:
        return mixture_log_e(sign * z(e0), t, rho)

    if mb > 0:
        estimate: float | None = (mc / mb) ** 2
    else:
        estimate = None if mc == 0 else math.inf
    lower, upper = _invert(log_e, alpha, 1e-4, 1e4, log_space=True)
    return Comparison(
        test="variance ratio, Brown-Forsythe deviations, normal-mixture sequential test",
        scale=Scale.RATIO,
        baseline=float(base.std(ddof=1)),
        candidate=float(cand.std(ddof=1)),
        estimate=estimate,
        lower=lower,
        upper=upper,
        alpha=alpha,
        p_value=_p_from_log_e(log_e(1.0)),
        p_threshold=_p_from_log_e(log_e(threshold)),
        threshold=threshold,
        n_baseline=nb,
        n_candidate=nc,
    )


# -- multiplicity -----------------------------------------------------------------------


def holm(p_values: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    """Holm-adjusted p-values (step-down, valid under any dependence): reject where adjusted ≤ alpha.

    With `weights` (positive, fixed before looking at the p-values), the weighted
    Holm procedure: a hypothesis with twice the weight gets twice the share of alpha.
    """
    m = len(p_values)
    w = [1.0] * m if weights is None else [float(x) for x in weights]
    if len(w) != m or any(x <= 0 for x in w):
        raise ValueError("holm needs one positive weight per p-value")
    order = sorted(range(m), key=lambda i: p_values[i] / w[i])
    remaining = sum(w)
    adjusted = [1.0] * m
    running = 0.0
    for i in order:
        running = max(running, min(1.0, p_values[i] * remaining / w[i]))
        adjusted[i] = running
        remaining -= w[i]
    return adjusted


def bonferroni(p_values: Sequence[float], weights: Sequence[float] | None = None) -> list[float]:
    w = [1.0] * len(p_values) if weights is None else [float(x) for x in weights]
    total = sum(w)
    return [min(1.0, p * total / wi) for p, wi in zip(p_values, w, strict=True)]
