"""What set failing inputs apart: only significant differences are findings, rates scaled for sampling."""

from __future__ import annotations

import pytest

from slipway.analysis.postmortem.patterns import Observation, distinguish, pattern_words


def observations(groups: dict[tuple[str, str], tuple[int, int]]) -> list[Observation]:
    """{(dimension, value): (wrong, right)} -> one observation per answer (one dimension each)."""
    out = []
    for (dim, value), (wrong, right) in groups.items():
        out += [Observation(True, {dim: value})] * wrong + [Observation(False, {dim: value})] * right
    return out


@pytest.mark.parametrize(
    ("groups", "significant"),
    [
        # billing answered wrong 40 % of the time, shipping 3 %: billing stands out, shipping does not
        ({("category", "billing"): (40, 60), ("category", "shipping"): (3, 97)}, {"billing"}),
        # the same rate everywhere: nothing stands out, however many answers
        ({("category", "billing"): (30, 270), ("category", "shipping"): (30, 270)}, set()),
        # a big difference on too few answers is not a finding
        ({("category", "billing"): (2, 1), ("category", "shipping"): (3, 97)}, set()),
        # a small but real difference on many answers is
        ({("category", "billing"): (300, 2700), ("category", "shipping"): (150, 2850)}, {"billing"}),
    ],
)
def test_a_value_is_a_finding_only_when_its_failure_rate_is_significantly_higher(
    groups: dict[tuple[str, str], tuple[int, int]], significant: set[str]
) -> None:
    found = distinguish(observations(groups))
    assert {f.value for f in found if f.significant} == significant
    for f in found:
        wrong, right = groups[(f.dimension, f.value)]
        assert f.wrong == wrong and f.answers == wrong + right and 0 <= f.p_value <= 1


def test_findings_come_first_and_are_said_with_both_rates() -> None:
    found = distinguish(
        observations({("length", "long (>1000 chars)"): (30, 10), ("length", "short (<200 chars)"): (5, 95)})
    )
    assert found[0].significant and found[0].value == "long (>1000 chars)"
    assert (
        found[0]
        .words()
        .startswith("long (>1000 chars) inputs: 75% of answers wrong (30 of 40) against 5% for the rest")
    )


def test_sampled_answers_are_scaled_back_to_rates_of_the_whole_run() -> None:
    # Inputs read for half the wrong answers and a tenth of the right ones
    groups = {("json", "yes"): (20, 5), ("json", "no"): (5, 45)}
    (first, *_rest) = distinguish(observations(groups), sampled={"json": (0.5, 0.1)})
    assert first.value == "yes" and first.wrong == 40 and first.answers == 40 + 50
    assert first.rest_wrong == 10 and first.rest_answers == 10 + 450


def test_a_dimension_without_wrong_answers_or_with_one_value_is_not_tested() -> None:
    assert (
        distinguish(observations({("category", "billing"): (0, 50), ("category", "shipping"): (0, 50)})) == []
    )
    assert distinguish(observations({("script", "latin"): (10, 50)})) == []


@pytest.mark.parametrize(
    ("dimension", "value", "words"),
    [
        ("json", "yes", "inputs containing JSON"),
        ("code", "no", "inputs without code"),
        ("script", "cyrillic", "inputs in cyrillic script"),
        ("turns", "4+ turns", "conversations of 4+ turns"),
        ("length", "long (>1000 chars)", "long (>1000 chars) inputs"),
        ("category", "billing", "billing requests"),
    ],
)
def test_a_pattern_is_said_as_a_kind_of_input(dimension: str, value: str, words: str) -> None:
    assert pattern_words(dimension, value) == words
