"""The pooled accuracy after a switch compares like with like when the category mix moved."""

from __future__ import annotations

from slipway.analysis.decide import ALL_CATEGORIES, judge
from slipway.analysis.mix import standardized_rates
from slipway.analysis.samples import ArmSample, CategoryCount
from slipway.analysis.thresholds import Thresholds
from slipway.analysis.verdict import Look, Outcome


def arm(slot: str, labels: dict[str, tuple[int, int]]) -> ArmSample:
    requests = sum(n for n, _ in labels.values()) * 2
    return ArmSample(
        slot=slot,
        requests=requests,
        errors=0,
        per_category={c: CategoryCount(n, k) for c, (n, k) in labels.items()},
        category_requests={c: n * 2 for c, (n, _) in labels.items()},
    )


def pooled(base: ArmSample, cand: ArmSample, *, other_window: bool) -> Outcome:
    verdict = judge(base, cand, Thresholds(), Look(3, 8), other_window=other_window)
    (result,) = [m for m in verdict.metrics if m.metric == "accuracy" and m.category == ALL_CATEGORIES]
    return result.outcome


#: Yesterday: billing (hard, 60 % right) was a tenth of the labels; shipping (95 % right) the rest.
YESTERDAY = arm("blue", {"billing": (1000, 600), "shipping": (9000, 8550)})


def test_the_same_mix_gives_the_plain_pooled_counts() -> None:
    today = arm("green", {"billing": (500, 300), "shipping": (4500, 4275)})
    assert standardized_rates(YESTERDAY, today) == (4575, 5000, 9150, 10000)


def test_a_mix_shift_alone_is_no_regression_once_standardised() -> None:
    # Today half the labels are billing; each category is exactly as accurate as yesterday.
    today = arm("green", {"billing": (5000, 3000), "shipping": (5000, 4750)})
    cand_x, cand_n, ref_x, ref_n = standardized_rates(YESTERDAY, today) or (0, 0, 0, 0)
    assert (cand_x, cand_n) == (7750, 10000)
    assert ref_x / ref_n == 0.775 and ref_n == 3600  # fewer effective labels than yesterday's 10,000
    # The plain pooled rate falls from 91.5 % to 77.5 %: a false regression, from the mix alone.
    assert pooled(YESTERDAY, today, other_window=False) is Outcome.BREACH
    assert pooled(YESTERDAY, today, other_window=True) is Outcome.OK


def test_a_real_drop_in_every_category_is_still_caught_under_a_mix_shift() -> None:
    today = arm("green", {"billing": (5000, 2500), "shipping": (5000, 4250)})
    assert pooled(YESTERDAY, today, other_window=True) is Outcome.BREACH


def test_categories_only_one_window_has_are_left_out_of_the_standardised_pool() -> None:
    today = arm("green", {"billing": (500, 300), "shipping": (4500, 4275), "legal": (50, 10)})
    assert standardized_rates(YESTERDAY, today) == (4575, 5000, 9150, 10000)
    assert standardized_rates(YESTERDAY, arm("green", {"billing": (500, 300)})) is None
