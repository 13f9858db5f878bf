"""Has the input mix moved since a version was evaluated? One dimension at a time, in words.

A model that was right on last month's traffic can be wrong on this month's:
billing questions doubling after a price change is a regression nobody
deployed. The reference is a version's profile (counts per value of each
input dimension: category, length, script, code/JSON/numbers, turns, and
the engine's out-of-vocabulary rate) from its evaluation data or its first
requests; the live window is the same counts now.

A dimension has drifted when both hold:
* the shift is real: a chi-square test of homogeneity between the two
  count tables rejects "same mix" at `alpha` split over the dimensions
  (Bonferroni), so noise in a small window raises nothing;
* the shift matters: some value's share moved by at least `min_points`
  (percentage points), so a huge window does not alarm on a shift of 0.3
  points that no model would notice.
The population stability index (PSI) is reported beside it, the number
many teams already watch. Pure: counts in, findings out.

The alpha is split over the dimensions actually judged (a weighted
Bonferroni: the levels add up to `alpha`, so an unchanged mix still raises
an alarm in at most `alpha` of the checks). The category, the dimension the
canary judges accuracy by, gets as much as the input dimensions together
(half of it when all are judged; the others share the other half evenly: a
fourteenth each for the seven when the engine's out-of-vocabulary rate is
measured, a twelfth each for the six read from text when it is not): split
evenly over seven, a 10-point category shift in 1,000 requests went
unflagged in 2.5 % of checks instead of none (docs/benchmarks.md). A
dimension without enough requests on both sides (an input dimension when the
gateway kept few inputs) is reported as not judged, with the reason in
words, and costs the others no power.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slipway.analysis.input_profile import CATEGORY, value_words

#: Counts per value, per dimension: {"category": {"billing": 200, "shipping": 800}, ...}.
Profile = Mapping[str, Mapping[str, int]]

#: Added to each share before the PSI's logarithm, so a value absent on one side stays finite.
PSI_FLOOR = 1e-4


@dataclass(frozen=True, slots=True)
class DriftSettings:
    #: The chance of an alarm on an unchanged mix, per check, over all dimensions together.
    alpha: float = 0.01
    #: The smallest move of one value's share, in percentage points, worth an alarm.
    min_points: float = 5.0
    #: Fewer live requests than this in a dimension: not judged yet.
    min_requests: int = 200


@dataclass(frozen=True, slots=True)
class Move:
    value: str
    reference_share: float
    live_share: float
    #: The value as the subject of a sentence ("long inputs (>1000 chars)"); the value itself if empty.
    label: str = ""

    @property
    def points(self) -> float:
        return (self.live_share - self.reference_share) * 100

    def words(self) -> str:
        verb = "rose" if self.points > 0 else "fell"
        return f"{self.label or self.value} {verb} from {self.reference_share:.0%} to {self.live_share:.0%}"


@dataclass(frozen=True, slots=True)
class DimensionDrift:
    dimension: str
    drifted: bool
    #: Why it is not judged (too few requests on a side); None when judged.
    unjudged: str | None
    p_value: float
    psi: float
    reference_n: int
    live_n: int
    #: The values whose share moved most, largest move first (at most three).
    moves: tuple[Move, ...]

    def words(self) -> str:
        if self.unjudged is not None:
            return f"{self.dimension}: not judged ({self.unjudged})"
        moved = "; ".join(m.words() for m in self.moves) or "no value moved"
        state = "drifted" if self.drifted else "steady"
        return f"{self.dimension}: {state}: {moved} (PSI {self.psi:.3f}, p={self.p_value:.2g})"


def compare(
    reference: Profile,
    live: Profile,
    settings: DriftSettings = DriftSettings(),
    *,
    totals: tuple[int, int] | None = None,
) -> list[DimensionDrift]:
    """Each dimension both profiles have, drifted ones first.

    `totals`: the requests behind each profile (reference, live), when a
    dimension may count fewer of them (only those with a stored input): the
    reason a dimension is not judged then says so.
    """
    dims = sorted(reference.keys() & live.keys())
    judged = [d for d in dims if _why_not_judged(d, reference[d], live[d], settings, totals) is None]
    weights = {d: _weight(d, judged) for d in judged}
    total = sum(weights.values()) or 1.0
    out = [
        _one(d, reference[d], live[d], settings.alpha * weights.get(d, 0.0) / total, settings, totals)
        for d in dims
    ]
    out.sort(key=lambda r: (not r.drifted, r.unjudged is not None, -r.psi, r.dimension))
    return out


def _weight(dimension: str, judged: Sequence[str]) -> float:
    """A dimension's share of alpha, before normalising: the category weighs as much as all the others."""
    if dimension == CATEGORY:
        return float(max(len(judged) - 1, 1))
    return 1.0


def _why_not_judged(
    name: str,
    ref: Mapping[str, int],
    now: Mapping[str, int],
    settings: DriftSettings,
    totals: tuple[int, int] | None,
) -> str | None:
    ref_n, live_n = sum(ref.values()), sum(now.values())
    need = settings.min_requests
    if live_n >= need and ref_n >= need:
        return None
    if totals is not None and name != CATEGORY:
        side, have, of = ("latest", live_n, totals[1]) if live_n < need else ("reference", ref_n, totals[0])
        if have < of:
            return f"only {have:,} of the {of:,} {side} requests have a stored input, {need:,} needed"
    return f"{min(live_n, ref_n)} requests, {need} needed"


def _one(
    name: str,
    ref: Mapping[str, int],
    now: Mapping[str, int],
    level: float,
    settings: DriftSettings,
    totals: tuple[int, int] | None = None,
) -> DimensionDrift:
    values = sorted(v for v in ref.keys() | now.keys() if ref.get(v, 0) + now.get(v, 0) > 0)
    ref_n, live_n = sum(ref.get(v, 0) for v in values), sum(now.get(v, 0) for v in values)
    why = _why_not_judged(name, ref, now, settings, totals)
    if why is not None:
        return DimensionDrift(name, False, why, 1.0, 0.0, ref_n, live_n, ())
    moves = sorted(
        (Move(v, ref.get(v, 0) / ref_n, now.get(v, 0) / live_n, value_words(name, v)) for v in values),
        key=lambda m: (-abs(m.points), m.value),
    )
    p_value = _homogeneity_p(values, ref, now)
    psi = _psi(moves)
    drifted = p_value < level and abs(moves[0].points) >= settings.min_points
    if set(values) == {"yes", "no"}:
        # Two values move by the same points: "inputs with code rose" says it all.
        moves = [m for m in moves if m.value == "yes"]
    shown = tuple(m for m in moves[:3] if abs(m.points) >= 0.5)
    return DimensionDrift(name, drifted, None, p_value, psi, ref_n, live_n, shown)


def _homogeneity_p(values: Sequence[str], ref: Mapping[str, int], now: Mapping[str, int]) -> float:
    """Chi-square test that both samples come from one mix (a single value: nothing to test)."""
    if len(values) < 2:
        return 1.0
    from scipy.stats import chi2_contingency  # lazy: scipy is 70 MiB of RSS

    table = [[ref.get(v, 0) for v in values], [now.get(v, 0) for v in values]]
    result = chi2_contingency(table, correction=False)
    return float(result.pvalue)


def _psi(moves: Sequence[Move]) -> float:
    total = 0.0
    for m in moves:
        a, e = max(m.live_share, PSI_FLOOR), max(m.reference_share, PSI_FLOOR)
        total += (a - e) * math.log(a / e)
    return total
