"""Statistics of paired outcomes: both answers to the *same* request, each pass or fail.

A shadow pair is a matched pair, so the two pass rates are not independent
samples: what differs between them is carried entirely by the discordant
pairs — regressions (production passed, the candidate failed) and
improvements (the reverse). Treating the two sides as independent would
waste that pairing and give intervals several times too wide. Hence:

* the test that the candidate is worse is McNemar's, exact: under "no
  difference" each discordant pair is a regression with probability 1/2, so
  the regressions among the discordant pairs are Binomial(b + c, 1/2).
  Exact, because a thin group has a handful of discordant pairs and the
  normal approximation would flag identical candidates there;
* the interval for the difference of the paired pass rates is Tango's score
  interval (Tango 1998): it inverts the score test of "difference = δ" with
  the restricted maximum-likelihood discordance, keeps its coverage at small
  counts and at rates near 0 or 1, and never leaves [−1, 1];
* a single rate (a pass rate, the regression rate) gets Wilson's interval;
* the pairs needed to see a drop are Connor's (1987) sample size for
  McNemar's test, which needs the discordance — how often the two answers
  differ at all — rather than the two rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_EDGE = 1e-9


@dataclass(frozen=True, slots=True)
class PairedCounts:
    """The paired 2×2 table of one set of pairs: who passed, production first."""

    both_pass: int = 0
    #: Production passed, the candidate failed.
    regressions: int = 0
    #: The candidate passed, production failed.
    improvements: int = 0
    both_fail: int = 0

    @property
    def n(self) -> int:
        return self.both_pass + self.regressions + self.improvements + self.both_fail

    @property
    def production_pass(self) -> int:
        return self.both_pass + self.regressions

    @property
    def candidate_pass(self) -> int:
        return self.both_pass + self.improvements

    @property
    def discordant(self) -> int:
        return self.regressions + self.improvements

    @property
    def drop(self) -> float:
        """Production's pass rate minus the candidate's: positive when the candidate is worse."""
        return (self.regressions - self.improvements) / self.n if self.n else 0.0

    def __add__(self, other: PairedCounts) -> PairedCounts:
        return PairedCounts(
            self.both_pass + other.both_pass,
            self.regressions + other.regressions,
            self.improvements + other.improvements,
            self.both_fail + other.both_fail,
        )


def _norm_ppf(q: float) -> float:
    from scipy.stats import norm  # lazy: scipy is 70 MiB of RSS

    return float(norm.ppf(q))


def z_two_sided(confidence: float) -> float:
    return _norm_ppf(1.0 - (1.0 - confidence) / 2.0)


def z_one_sided(alpha: float) -> float:
    return _norm_ppf(1.0 - alpha)


def wilson(x: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson's score interval for the proportion x/n ((0, 1) when there is no data)."""
    if n <= 0:
        return (0.0, 1.0)
    z = z_two_sided(confidence)
    p = x / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def p_worse(counts: PairedCounts) -> float:
    """One-sided exact McNemar p-value for "the candidate is no worse than production"."""
    d = counts.discordant
    if d == 0 or counts.regressions == 0:
        return 1.0
    from scipy.stats import binom  # lazy: scipy is 70 MiB of RSS

    return float(binom.sf(counts.regressions - 1, d, 0.5))


def _tango_z(b: int, c: int, n: int, delta: float) -> float:
    """Tango's score statistic for "drop = delta"; it decreases as delta grows."""
    a = 2.0 * n
    bb = -b - c + (2.0 * n - b + c) * delta
    cc = -c * delta * (1.0 - delta)
    p21 = (math.sqrt(max(bb * bb - 4.0 * a * cc, 0.0)) - bb) / (2.0 * a)
    variance = n * (2.0 * p21 + delta * (1.0 - delta))
    numerator = b - c - n * delta
    if variance <= 0:
        return 0.0 if numerator == 0 else math.copysign(math.inf, numerator)
    return numerator / math.sqrt(variance)


def drop_bounds(counts: PairedCounts, z_lower: float, z_upper: float) -> tuple[float, float]:
    """Tango's bounds for the drop: the lower bound at `z_lower`, the upper at `z_upper`.

    Two-sided intervals pass the same z twice; a one-sided lower bound passes
    an infinite `z_upper`.
    """
    b, c, n = counts.regressions, counts.improvements, counts.n
    if n == 0:
        return (-1.0, 1.0)

    def solve(target: float) -> float:
        if math.isinf(target):
            return math.copysign(1.0, -target)
        lo, hi = -1.0 + _EDGE, 1.0 - _EDGE
        f_lo, f_hi = _tango_z(b, c, n, lo) - target, _tango_z(b, c, n, hi) - target
        if f_lo <= 0:
            return -1.0
        if f_hi >= 0:
            return 1.0
        from scipy.optimize import brentq  # lazy: scipy is 70 MiB of RSS

        return float(brentq(lambda d: _tango_z(b, c, n, d) - target, lo, hi, xtol=1e-9))

    return (solve(z_lower), solve(-z_upper))


def drop_interval(counts: PairedCounts, confidence: float) -> tuple[float, float]:
    """Two-sided Tango interval for production's pass rate minus the candidate's."""
    z = z_two_sided(confidence)
    return drop_bounds(counts, z, z)


def pairs_to_detect(drop: float, discordance: float, alpha: float, power: float = 0.8) -> int:
    """Pairs for a one-sided McNemar test at `alpha` to see `drop` with `power` (Connor 1987).

    `discordance` is the share of pairs whose answers differ in outcome; a
    drop of `drop` needs at least that many discordant pairs, so it is raised
    to `drop` when smaller.
    """
    if not 0 < drop < 1:
        raise ValueError("pairs_to_detect needs a drop between 0 and 1")
    psi = min(max(discordance, drop), 1.0)
    za, zb = z_one_sided(alpha), _norm_ppf(power)
    root = za * math.sqrt(psi) + zb * math.sqrt(max(psi - drop * drop, 0.0))
    return math.ceil(root * root / (drop * drop))
