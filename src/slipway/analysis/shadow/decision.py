"""Go / no-go: the rule, stated in words with the report's numbers, and applied.

The rule is written out in every report because an operator acting on "no-go"
at 3 a.m. must be able to see why, and a reviewer must be able to check that
the tool did what it says. Precedence:

1. `not yet` before `min_pairs` pairs, whatever the numbers (early looks at a
   small sample are where chance findings live); flags already visible are
   listed as reasons.
2. `no-go` when a group is flagged `regressed` (significantly worse with an
   observed drop of at least `min_effect`), or when regressions significantly
   outnumber improvements overall (net harm, whatever its size).
3. `not yet` while a category has fewer pairs than it needs to detect a drop
   of `min_effect` (see `adequacy`): "nothing found" is not yet "nothing there".
4. `go`.

The overall comparison and each dimension share α = 1 − confidence
(`groups.family_alpha`), so an identical candidate is called no-go with
probability at most α.
"""

from __future__ import annotations

from collections.abc import Sequence

from slipway.analysis.shadow.adequacy import Adequacy
from slipway.analysis.shadow.groups import Status, family_alpha
from slipway.analysis.shadow.render import pct, points
from slipway.analysis.shadow.report_model import Change, DimensionReport, Group, Verdict
from slipway.core.shadow_config import ShadowDecisionConfig


def flag_reason(g: Group) -> str:
    c = g.change
    spread = "" if g.specific else " (across the board, not specific to this group)"
    p = "" if g.p_adjusted is None else f"; adjusted p = {g.p_adjusted:.2g}"
    return (
        f"{g.label}: pass rate {pct(g.production.value)} → {pct(g.candidate.value)} "
        f"({points(c.net_change)} points, CI {points(c.net_low)} to {points(c.net_high)}; "
        f"{c.counts.regressions} regressions, {c.counts.improvements} improvements{p}){spread}"
    )


def rule_text(decision: ShadowDecisionConfig, dimensions: int) -> str:
    share = family_alpha(decision, dimensions)
    effect = f"{decision.min_effect * 100:g}"
    return (
        f"No verdict ('not yet') before {decision.min_pairs} pairs. Then 'no-go' if a group of at least "
        f"{decision.min_pairs_per_group} pairs is significantly worse with an observed drop of at least "
        f"{effect} points, or if regressions significantly outnumber improvements overall; else 'not yet' "
        f"while a category has fewer pairs than it needs to detect a {effect} % drop with 80 % power; "
        f"else 'go'. Significance: one-sided exact McNemar tests; α = {1 - decision.confidence:g} is split "
        f"over the overall comparison and the {dimensions} dimensions (α = {share:.2g} each), Holm across "
        f"the groups of a dimension."
    )


def decide(
    pairs: int,
    change: Change,
    dimensions: Sequence[DimensionReport],
    needs: Sequence[Adequacy],
    decision: ShadowDecisionConfig,
) -> Verdict:
    """Apply the rule (`rule_text`) to the report's numbers."""
    rule = rule_text(decision, len(dimensions))
    groups = [g for d in dimensions for g in d.groups]
    regressed = [flag_reason(g) for g in groups if g.status is Status.REGRESSED]
    worse_overall = change.p_worse <= family_alpha(decision, len(dimensions))
    overall = (
        f"overall: regressions {pct(change.regression_rate.value)} significantly exceed improvements "
        f"{pct(change.improvement_rate.value)} (p = {change.p_worse:.2g})"
    )
    if pairs < decision.min_pairs:
        early = [f"{pairs} pairs of the {decision.min_pairs} needed for a verdict"]
        early += [f"already flagged: {r}" for r in regressed]
        early += [f"already: {overall}"] if worse_overall else []
        return Verdict("not yet", tuple(early), rule)
    if regressed or worse_overall:
        return Verdict("no-go", (*regressed, *([overall] if worse_overall else [])), rule)
    short = [a.text for a in needs if not a.met]
    if short:
        return Verdict("not yet", tuple(short), rule)
    effect = f"{decision.min_effect * 100:g}"
    worse = [
        f"worse by less than {effect} points: {flag_reason(g)}" for g in groups if g.status is Status.WORSE
    ]
    first = (
        f"no group significantly worse by {effect} points or more; regressions do not significantly "
        f"exceed improvements; every category has enough pairs"
    )
    return Verdict("go", (first, *worse), rule)


def methods(decision: ShadowDecisionConfig, dimensions: int) -> dict[str, str]:
    """Which method computed what, named in the report so its numbers can be checked."""
    share = family_alpha(decision, dimensions)
    level = f"{decision.confidence * 100:g} %"
    return {
        "pass": "a side passes when it answered, its answer passes every format check, and it is correct "
        "where the pair has a ground-truth label (core.labels.matches_label)",
        "rate_interval": f"Wilson score interval, {level}",
        "net_change_interval": f"Tango's score interval for the difference of paired proportions, {level}, "
        "not adjusted for multiplicity",
        "test": "one-sided exact McNemar test: the regressions among the discordant pairs "
        "against Binomial(·, 1/2)",
        "multiplicity": f"Bonferroni over the overall comparison and the {dimensions} dimensions "
        f"(α = {share:.4g} each); Holm across the groups of a dimension",
        "attribution": "a significantly worse group whose drop exceeds the other remaining pairs' (pooled "
        "two-sample z test) is a cause; causes are taken largest one-sided lower bound first, their pairs "
        "set aside, and the groups tested again; a group no longer worse then is 'explained' by them",
        "adequacy": "Connor (1987) sample size for McNemar's test, 80 % power, at each family's α divided by "
        "the number of categories; discordance observed, smoothed toward 2p(1 − p) over 20 pseudo-pairs",
        "preference": "LLM judge asked in both orders; interval for (wins − losses) ÷ judged "
        "by Tango's method",
    }
