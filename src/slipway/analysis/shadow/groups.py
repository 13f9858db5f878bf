"""Which groups regressed, and which only look worse because they contain one that did.

Groups overlap: every billing request is also short or long, latin or not,
with or without numbers. A candidate that breaks billing drags down every
group billing requests fall in, and with a few thousand pairs the drag is
significant — a report that flagged all of them would bury the one finding
under a dozen echoes. So groups are judged in rounds, explaining away:

1. Every group with at least `min_pairs_per_group` pairs (and not all of
   them: that is the overall comparison) is tested: is the candidate worse
   on it (one-sided exact McNemar test)? The p-values are adjusted with
   Holm's step-down across the groups of the dimension. The overall
   comparison and each of the D dimensions are given α/(D + 1) (Bonferroni),
   so the chance that an identical candidate gets *any* flag, or a no-go, in
   the whole report is at most α = 1 − confidence.
2. A significantly worse group is a *cause* candidate when its drop is also
   larger than the drop of the other remaining pairs (a two-sample z test of
   the paired differences at the dimension's level): the regression is
   concentrated there, not spread evenly across the traffic.
3. The candidate whose drop is surely largest (highest one-sided lower
   confidence bound) is named a cause; its pairs are set aside and step 1
   runs again on the rest, until no cause is left.

A group significantly worse at first that is no longer once the causes'
pairs are set aside is *explained* by them. A group still significantly
worse at the end without being specific (the rest of the traffic drops as
much) is flagged too: the candidate is worse across the board there.
A flagged group is `regressed` when its observed drop is at least
`min_effect`, else `worse` (significant, but smaller than what matters).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from slipway.analysis.shadow.paired import PairedCounts, drop_bounds, z_one_sided
from slipway.analysis.stats import holm
from slipway.core.shadow_config import ShadowDecisionConfig

IntArray = npt.NDArray[np.int64]


class Status(StrEnum):
    #: Significantly worse, by at least `min_effect` (observed).
    REGRESSED = "regressed"
    #: Significantly worse, by less than `min_effect`.
    WORSE = "worse"
    #: Significantly worse only because it holds pairs of a flagged group.
    EXPLAINED = "explained"
    OK = "ok"
    #: Fewer than `min_pairs_per_group` pairs: listed, not judged.
    TOO_FEW = "too few pairs"
    #: Holds every pair: the overall comparison already judges it.
    ALL = "all pairs"

    @property
    def flagged(self) -> bool:
        return self in (Status.REGRESSED, Status.WORSE)


@dataclass(frozen=True, slots=True)
class GroupedDimension:
    """A dimension as the tests need it: each pair's group index, and the groups' names."""

    name: str
    codes: IntArray
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupJudgement:
    status: Status
    #: Holm-adjusted p-value (within the dimension) in the round that decided the status.
    p_adjusted: float | None = None
    #: The pairs and drop that round saw (a later cause is judged without earlier causes' pairs).
    decided_n: int = 0
    decided_drop: float | None = None
    #: Named as a cause: its drop is concentrated in it.
    specific: bool = False
    #: For an explained group: the causes that share its pairs, as (dimension, value).
    explained_by: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class _Tested:
    dim: int
    group: int
    counts: PairedCounts
    p_adjusted: float


def _table(dim: GroupedDimension, kinds: IntArray, keep: npt.NDArray[np.bool_]) -> IntArray:
    """Per group the four outcome counts (both pass, regression, improvement, both fail)."""
    size = len(dim.values)
    flat = np.bincount(dim.codes[keep] * 4 + kinds[keep], minlength=size * 4)
    return flat.reshape(size, 4)


def _counts(row: IntArray) -> PairedCounts:
    return PairedCounts(int(row[0]), int(row[1]), int(row[2]), int(row[3]))


def family_alpha(decision: ShadowDecisionConfig, dimensions: int) -> float:
    """The share of α each family of decisions gets: the overall comparison and each dimension."""
    return (1.0 - decision.confidence) / (dimensions + 1)


def _test_round(
    dims: Sequence[GroupedDimension],
    kinds: IntArray,
    keep: npt.NDArray[np.bool_],
    min_pairs: int,
    alpha_dim: float,
) -> list[_Tested]:
    """The groups significantly worse on the kept pairs, each dimension Holm-adjusted at `alpha_dim`."""
    significant: list[_Tested] = []
    for d, dim in enumerate(dims):
        table = _table(dim, kinds, keep)
        sizes = np.bincount(dim.codes, minlength=len(dim.values))
        judged = np.flatnonzero((table.sum(axis=1) >= min_pairs) & (sizes < len(kinds)))
        if judged.size == 0:
            continue
        b, c = table[judged, 1], table[judged, 2]
        from scipy.stats import binom  # lazy: scipy is 70 MiB of RSS

        p = np.where(b > 0, binom.sf(b - 1, b + c, 0.5), 1.0)
        for g, p_adj in zip(judged, holm([float(x) for x in p]), strict=True):
            if p_adj <= alpha_dim:
                significant.append(_Tested(d, int(g), _counts(table[g]), p_adj))
    return significant


def _specific(counts: PairedCounts, total: PairedCounts, alpha_dim: float) -> bool:
    """Is the group's drop larger than the rest's? Pooled-variance two-sample z test of the differences."""
    rest_n = total.n - counts.n
    if rest_n <= 0:
        return False
    rest_drop = (total.regressions - counts.regressions - total.improvements + counts.improvements) / rest_n
    mean = total.drop
    variance = total.discordant / total.n - mean * mean
    if variance <= 0:
        return False
    z = (counts.drop - rest_drop) / math.sqrt(variance * (1 / counts.n + 1 / rest_n))
    from scipy.stats import norm  # lazy: scipy is 70 MiB of RSS

    return bool(norm.sf(z) <= alpha_dim)


def judge_groups(
    dims: Sequence[GroupedDimension], kinds: IntArray, decision: ShadowDecisionConfig
) -> dict[tuple[int, int], GroupJudgement]:
    """The status of every group that has pairs, keyed by (dimension index, group index).

    `kinds` is each pair's outcome as 0 both pass, 1 regression, 2 improvement, 3 both fail.
    """
    alpha_dim = family_alpha(decision, len(dims))
    z_sel = z_one_sided(alpha_dim)
    keep = np.ones(len(kinds), dtype=bool)
    causes: list[_Tested] = []
    first = last = _test_round(dims, kinds, keep, decision.min_pairs_per_group, alpha_dim)
    while last:
        kept = kinds[keep]
        total = PairedCounts(*(int((kept == k).sum()) for k in range(4)))
        eligible = [t for t in last if _specific(t.counts, total, alpha_dim)]
        if not eligible:
            break
        cause = max(eligible, key=lambda t: (drop_bounds(t.counts, z_sel, math.inf)[0], -t.dim))
        causes.append(cause)
        keep &= dims[cause.dim].codes != cause.group
        last = _test_round(dims, kinds, keep, decision.min_pairs_per_group, alpha_dim)

    out: dict[tuple[int, int], GroupJudgement] = {}
    everything = np.ones(len(kinds), dtype=bool)

    def flag(t: _Tested, specific: bool) -> GroupJudgement:
        regressed = t.counts.drop >= decision.min_effect
        return GroupJudgement(
            Status.REGRESSED if regressed else Status.WORSE,
            t.p_adjusted,
            t.counts.n,
            t.counts.drop,
            specific,
        )

    for t in causes:
        out[(t.dim, t.group)] = flag(t, True)
    for t in last:
        out.setdefault((t.dim, t.group), flag(t, False))
    for t in first:
        key = (t.dim, t.group)
        if key in out:
            continue
        members = dims[t.dim].codes == t.group
        by = tuple(
            (dims[c.dim].name, dims[c.dim].values[c.group])
            for c in causes
            if bool(np.any(members & (dims[c.dim].codes == c.group)))
        )
        out[key] = GroupJudgement(Status.EXPLAINED, t.p_adjusted, t.counts.n, t.counts.drop, False, by)
    for d, dim in enumerate(dims):
        sizes = _table(dim, kinds, everything).sum(axis=1)
        for g, size in enumerate(sizes):
            if size and (d, g) not in out:
                if size == len(kinds):
                    status = Status.ALL
                else:
                    status = Status.TOO_FEW if size < decision.min_pairs_per_group else Status.OK
                out[(d, g)] = GroupJudgement(status, decided_n=int(size))
    return out
