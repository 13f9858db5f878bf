"""The weighted split's draws give each weight its share of any run of requests, to a request or two."""

from __future__ import annotations

import pytest

from slipway.core.types import WEIGHT_SCALE
from slipway.gateway.even_draws import GOLDEN_STEP, SILVER_STEP, EvenDraws


@pytest.mark.parametrize("start", [0.0, 0.25, 0.999])
@pytest.mark.parametrize("share", [0.01, 0.05, 0.1, 0.2, 0.5])
def test_every_window_of_requests_gets_its_share(start: float, share: float) -> None:
    draws = EvenDraws(GOLDEN_STEP, start)
    hits = [draws() < share for _ in range(20_000)]
    for n in (100, 1_200, 20_000):
        for begin in range(0, len(hits) - n + 1, max(n // 3, 1)):
            count = sum(hits[begin : begin + n])
            assert abs(count - n * share) <= 3, (n, begin, count)


def test_a_client_whose_requests_alternate_sends_each_kind_the_same_share() -> None:
    draws = EvenDraws(GOLDEN_STEP, 0.5)
    hits = [draws() < 0.1 for _ in range(2_000)]
    billing, shipping = sum(hits[0::2]), sum(hits[1::2])
    assert abs(billing - 100) <= 3 and abs(shipping - 100) <= 3


def test_the_sampling_sequence_does_not_move_in_step_with_the_split() -> None:
    split, sample = EvenDraws(GOLDEN_STEP, 0.0), EvenDraws(SILVER_STEP, 0.0)
    both = sum(1 for _ in range(10_000) if split() < 0.2 and sample() < 0.5)
    assert abs(both - 1_000) <= 60  # as if independent: 20 % of the 50 %


def test_draws_stay_in_the_unit_interval_and_buckets_are_all_reached() -> None:
    draws = EvenDraws()
    seen = {int(draws() * WEIGHT_SCALE) for _ in range(200_000)}
    assert min(seen) >= 0 and max(seen) < WEIGHT_SCALE and len(seen) == WEIGHT_SCALE


def test_a_start_outside_the_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="starts in"):
        EvenDraws(GOLDEN_STEP, 1.0)
