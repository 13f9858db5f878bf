"""The blast radius: how much traffic, overall and per category, the candidate served while bad.

`decide` re-exports it; callers import from `slipway.analysis.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from slipway.analysis.samples import ArmSample
from slipway.analysis.verdict import Outcome, Verdict


@dataclass(frozen=True, slots=True)
class CategoryBlast:
    category: str
    candidate_requests: int
    total_requests: int
    #: The candidate's share of this category's requests.
    share: float
    #: The category failed in the verdict (accuracy breach or drift).
    failing: bool = False
    #: For a failing category: candidate requests × the accuracy drop, i.e. answers it got wrong
    #: that production would have got right (an estimate).
    excess_wrong: float | None = None


@dataclass(frozen=True, slots=True)
class BlastRadius:
    """How much traffic the candidate served while it was bad: what an incident report asks first."""

    candidate_requests: int
    total_requests: int
    share: float
    per_category: tuple[CategoryBlast, ...]
    since: float
    until: float

    @property
    def failing_categories(self) -> tuple[CategoryBlast, ...]:
        return tuple(c for c in self.per_category if c.failing)

    def summary(self) -> str:
        line = (
            f"the candidate served {self.share * 100:.1f} % of all traffic "
            f"({self.candidate_requests} of {self.total_requests} requests)"
        )
        for c in self.failing_categories:
            line += f"; {c.share * 100:.1f} % of {c.category} ({c.candidate_requests} requests"
            if c.excess_wrong is not None:
                line += f", ~{c.excess_wrong:.0f} wrong answers production would have got right"
            line += ")"
        return line


def blast_radius(
    candidate: ArmSample,
    all_traffic: ArmSample | Sequence[ArmSample],
    verdict: Verdict | None = None,
) -> BlastRadius:
    """The candidate's share of all requests, and of each category, over the samples' window.

    `all_traffic` is either one pooled sample of every slot or the samples of
    every slot (the candidate's may be among them; it is counted once, by slot
    name). Pass samples for the window in which the candidate was bad: from the
    canary's start (a regression is there from the first request) to the
    rollback. With a verdict, failing categories are marked and their excess
    wrong answers estimated.
    """
    if isinstance(all_traffic, ArmSample):
        total = all_traffic
    else:
        by_slot = {s.slot: s for s in all_traffic}
        by_slot.setdefault(candidate.slot, candidate)
        total = ArmSample.pooled(by_slot.values())
    failing: dict[str, float | None] = {}
    if verdict is not None:
        for m in verdict.metrics:
            if m.metric == "accuracy" and m.category and m.outcome in (Outcome.BREACH, Outcome.DRIFT):
                failing[m.category] = m.estimate
    per_category = []
    for name in sorted(total.category_requests.keys() | candidate.category_requests.keys()):
        served = candidate.category_requests.get(name, 0)
        everyone = max(total.category_requests.get(name, 0), served)
        drop = failing.get(name)
        per_category.append(
            CategoryBlast(
                category=name,
                candidate_requests=served,
                total_requests=everyone,
                share=served / everyone if everyone else 0.0,
                failing=name in failing,
                excess_wrong=served * drop if drop is not None and math.isfinite(drop) else None,
            )
        )
    everyone = max(total.requests, candidate.requests)
    return BlastRadius(
        candidate_requests=candidate.requests,
        total_requests=everyone,
        share=candidate.requests / everyone if everyone else 0.0,
        per_category=tuple(per_category),
        since=min(candidate.since, total.since),
        until=max(candidate.until, total.until),
    )
