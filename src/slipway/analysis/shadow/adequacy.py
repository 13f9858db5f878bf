"""How many pairs each category still needs before the report can see a drop that matters.

"N more pairs needed to detect a 5 % drop in billing": the pairs a category
needs for the report's own test (one-sided exact McNemar, at the share of α a
category gets in the report: α / (dimensions + 1) / categories, the strictest
step of Holm) to flag a drop of `min_effect` with 80 % power, by Connor's (1987)
formula for paired proportions.

That formula needs the *discordance* — the share of pairs whose two answers
differ in outcome — because only discordant pairs carry evidence. It is
taken from the category's pairs, smoothed toward what two independent
answers at the observed pass rate would give (`PRIOR_PAIRS` pseudo-pairs), so
that a category with ten pairs gets a sane estimate, and never below the
drop itself (a drop of 5 points needs at least 5 % of pairs to differ).
Identical answers need few pairs; noisy ones many.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from slipway.analysis.shadow.compare import counts_by_category
from slipway.analysis.shadow.dimensions import REPORT_DIMENSIONS
from slipway.analysis.shadow.groups import family_alpha
from slipway.analysis.shadow.paired import PairedCounts, pairs_to_detect
from slipway.core.shadow import ShadowPair
from slipway.core.shadow_config import ShadowChecksConfig, ShadowDecisionConfig

POWER = 0.8
PRIOR_PAIRS = 20


@dataclass(frozen=True, slots=True)
class Adequacy:
    category: str
    pairs: int
    #: Production's pass rate in the category (None without pairs).
    production_pass_rate: float | None
    #: Share of pairs assumed to differ in outcome (smoothed, at least `effect`).
    discordance: float
    effect: float
    #: Pairs the category needs in all (at least `min_pairs_per_group`).
    needed: int

    @property
    def more(self) -> int:
        return max(self.needed - self.pairs, 0)

    @property
    def met(self) -> bool:
        return self.more == 0

    @property
    def text(self) -> str:
        drop = f"a {self.effect * 100:g} % drop in {self.category}"
        if self.met:
            return f"enough pairs to detect {drop} ({self.pairs} of {self.needed} needed)"
        return f"{self.more} more pairs needed to detect {drop} ({self.pairs} of {self.needed})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "pairs": self.pairs,
            "production_pass_rate": self.production_pass_rate,
            "discordance": self.discordance,
            "effect": self.effect,
            "needed": self.needed,
            "more": self.more,
            "met": self.met,
            "text": self.text,
        }


def _discordance(counts: PairedCounts) -> float:
    n = counts.n
    p = (counts.production_pass + counts.candidate_pass + 1) / (2 * n + 2)
    return (counts.discordant + PRIOR_PAIRS * 2 * p * (1 - p)) / (n + PRIOR_PAIRS)


def adequacy(counts: Mapping[str, PairedCounts], decision: ShadowDecisionConfig) -> tuple[Adequacy, ...]:
    """One row per category, the neediest first."""
    alpha = family_alpha(decision, len(REPORT_DIMENSIONS)) / max(len(counts), 1)
    effect = decision.min_effect
    rows = []
    for category, c in counts.items():
        psi = max(_discordance(c), effect)
        needed = max(pairs_to_detect(effect, psi, alpha, POWER), decision.min_pairs_per_group)
        rate = c.production_pass / c.n if c.n else None
        rows.append(Adequacy(category, c.n, rate, psi, effect, needed))
    rows.sort(key=lambda r: (-r.more, r.category))
    return tuple(rows)


def adequacy_for(
    data: Iterable[ShadowPair] | Mapping[str, PairedCounts],
    decision: ShadowDecisionConfig,
    *,
    checks: ShadowChecksConfig | None = None,
) -> tuple[Adequacy, ...]:
    """Adequacy from pairs (judged with `checks`; one pass, no scorers) or from counts per category."""
    counts = data if isinstance(data, Mapping) else counts_by_category(data, checks)
    return adequacy(counts, decision)
