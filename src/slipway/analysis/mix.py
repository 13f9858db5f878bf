"""Pooled accuracy across two windows whose category mix differs: compare like with like.

During a canary ramp both arms share one window, so their category mix
differs only by chance. After a switch (a bake, a canary's monitoring
windows) the reference is another stretch of time: if billing was 10 % of
yesterday's traffic and is 40 % of today's, the pooled accuracy moves with
the mix alone, and an unchanged model can look like a regression (or hide
one). So the pooled "(all)" comparison uses the reference's per-category
accuracies weighted by the candidate's own mix (direct standardisation),
over the categories both windows have labels for. Its sample size is the
effective size of that weighted estimate, never more than the reference's
labels, so the anytime-valid test keeps its error rates. Per-category
comparisons need no adjustment: each is already like with like.
"""

from __future__ import annotations

import math

from slipway.analysis.samples import ArmSample


def standardized_rates(base: ArmSample, cand: ArmSample) -> tuple[int, int, int, int] | None:
    """(candidate correct, candidate n, reference correct, reference effective n) on the candidate's mix.

    Over the categories both arms have labels in; None when fewer than two
    (nothing to reweight: the plain pooled counts are the comparison).
    """
    shared = sorted(
        c
        for c, count in cand.per_category.items()
        if count.n > 0 and c in base.per_category and base.per_category[c].n > 0
    )
    if len(shared) < 2:
        return None
    cand_n = sum(cand.per_category[c].n for c in shared)
    cand_x = sum(cand.per_category[c].correct for c in shared)
    weights = {c: cand.per_category[c].n / cand_n for c in shared}
    rate = sum(weights[c] * base.per_category[c].correct / base.per_category[c].n for c in shared)
    # Variance of the weighted rate is sum(w² p(1-p)/n); a plain sample of this size has the same.
    effective_n = math.floor(1.0 / sum(weights[c] ** 2 / base.per_category[c].n for c in shared) + 1e-9)
    effective_n = max(effective_n, 1)
    return cand_x, cand_n, min(round(rate * effective_n), effective_n), effective_n
