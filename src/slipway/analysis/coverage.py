"""Which categories a check can vouch for: enough labels, in both arms, to see the drop that matters.

"Not worse than production" means little for a category with twenty labels:
a 30-point drop there is noise to any test. A category is *covered* when
both arms hold enough labelled answers to detect an accuracy drop of
`detect_drop` with probability `power` at the level the check spends on it.
The count is the classic one-sided two-proportion sample size at the
baseline's own accuracy: a fixed-sample figure, so the anytime-valid test
the check runs may need somewhat more; it says how far off a category is,
and when it will get there at the rate labels are arriving.

Categories carrying less than `min_share` of the traffic are listed but not
counted against the check: they are named "not covered", never passed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from slipway.analysis.samples import UNCATEGORIZED, ArmSample, CategoryCount

#: Accuracy assumed for a category whose baseline has no labels yet (a good production model).
PRIOR_ACCURACY = 0.9


@dataclass(frozen=True, slots=True)
class CoverageSettings:
    #: The accuracy drop, in points (0.30 = thirty points), a covered category would show.
    detect_drop: float = 0.30
    #: The chance of seeing such a drop once covered.
    power: float = 0.8
    #: Categories with less of the traffic than this are listed, not required.
    min_share: float = 0.05


@dataclass(frozen=True, slots=True)
class CategoryCoverage:
    category: str
    #: Its share of both arms' requests in the window.
    traffic_share: float
    labels_baseline: int
    labels_candidate: int
    #: Labels each arm needs.
    labels_needed: int
    covered: bool
    #: Whether it carries enough traffic to be required, and the share that takes (`min_share`).
    required: bool
    required_share: float
    #: Seconds until the thinner arm has enough at the rate its labels arrived so far; None when
    #: covered, or when no label arrived yet to measure a rate.
    eta_s: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "category": self.category,
            "traffic_share": self.traffic_share,
            "labels_baseline": self.labels_baseline,
            "labels_candidate": self.labels_candidate,
            "labels_needed": self.labels_needed,
            "covered": self.covered,
            "required": self.required,
            "required_share": self.required_share,
            "eta_s": self.eta_s,
        }


def labels_needed(accuracy: float, drop: float, level: float, power: float) -> int:
    """Labels per arm for a one-sided two-proportion test to see `accuracy` fall by `drop`."""
    p1 = min(max(accuracy, drop + 0.01), 0.999)
    p2 = p1 - drop
    mean = (p1 + p2) / 2
    z_level, z_power = NormalDist().inv_cdf(1 - level), NormalDist().inv_cdf(power)
    spread = z_level * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return max(1, math.ceil((spread / drop) ** 2))


def coverage(
    base: ArmSample,
    cand: ArmSample,
    *,
    level: float,
    settings: CoverageSettings = CoverageSettings(),
    baseline_grows: bool = True,
) -> list[CategoryCoverage]:
    """Every category either arm saw, required ones first, then by traffic.

    `baseline_grows`: the baseline's window is still open (a canary's split);
    a bake's reference window before the switch is not, so a baseline short
    of labels there will not catch up (no time to coverage).
    """
    traffic = {
        c: base.category_requests.get(c, 0) + cand.category_requests.get(c, 0)
        for c in base.category_requests.keys() | cand.category_requests.keys() | base.per_category.keys()
        if c != UNCATEGORIZED
    }
    total = sum(traffic.values())
    rows = []
    for category, requests in traffic.items():
        b = base.per_category.get(category, CategoryCount(0, 0))
        c = cand.per_category.get(category, CategoryCount(0, 0))
        accuracy = b.correct / b.n if b.n else PRIOR_ACCURACY
        needed = labels_needed(accuracy, settings.detect_drop, level, settings.power)
        covered = min(b.n, c.n) >= needed
        share = requests / total if total else 0.0
        eta = None
        if not covered:
            waits = [_wait(cand, c.n, needed)]
            if b.n < needed:
                waits.append(_wait(base, b.n, needed) if baseline_grows else None)
            eta = None if None in waits else max(w for w in waits if w is not None)
        rows.append(
            CategoryCoverage(
                category,
                share,
                b.n,
                c.n,
                needed,
                covered,
                share >= settings.min_share,
                settings.min_share,
                eta,
            )
        )
    rows.sort(key=lambda r: (not r.required, -r.traffic_share, r.category))
    return rows


def _wait(arm: ArmSample, have: int, needed: int) -> float | None:
    """Seconds until `arm` has `needed` labels at the rate they came so far (None: no rate yet)."""
    seconds = arm.until - arm.since
    if have >= needed:
        return 0.0
    if have == 0 or seconds <= 0:
        return None
    return (needed - have) * seconds / have


def reference_gaps(
    base: ArmSample, *, level: float, settings: CoverageSettings = CoverageSettings()
) -> list[str]:
    """Categories a closed reference window has too few labels in to ever judge, in words.

    A bake compares with the old version's traffic before the switch; that
    window does not grow, so a required category short of labels there stays
    uncovered however long the bake runs (and the bake cannot end stable).
    Said at the start, not discovered a week later.
    """
    total = sum(n for c, n in base.category_requests.items() if c != UNCATEGORIZED)
    gaps = []
    for category, requests in sorted(base.category_requests.items(), key=lambda kv: (-kv[1], kv[0])):
        if category == UNCATEGORIZED or not total or requests / total < settings.min_share:
            continue
        b = base.per_category.get(category, CategoryCount(0, 0))
        accuracy = b.correct / b.n if b.n else PRIOR_ACCURACY
        needed = labels_needed(accuracy, settings.detect_drop, level, settings.power)
        if b.n < needed:
            gaps.append(f"{category}: {b.n} labels, {needed} needed")
    return gaps
