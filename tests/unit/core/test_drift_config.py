"""The `drift:` section's reference choice and out-of-vocabulary sample, as an operator writes them."""

from __future__ import annotations

import pytest

from slipway.core.config import parse_config
from slipway.core.errors import ConfigError

HEAD = "slots:\n  blue: {endpoint: 'http://127.0.0.1:9', model: m}\nactive_slot: blue\n"


def test_the_reference_defaults_to_auto_and_takes_each_choice() -> None:
    assert parse_config(HEAD).drift.reference_from == "auto"
    for choice in ("auto", "evaluation", "traffic"):
        assert parse_config(HEAD + f"drift: {{reference_from: {choice}}}\n").drift.reference_from == choice


def test_an_unknown_reference_names_the_field_and_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + "drift: {reference_from: eval}\n")
    said = str(caught.value)
    assert "reference_from" in said and "'evaluation'" in said and "'traffic'" in said, said


@pytest.mark.parametrize("sample", [0, 200, 1000, 5000])
def test_an_oov_sample_of_zero_or_enough_to_judge_is_taken(sample: int) -> None:
    assert parse_config(HEAD + f"drift: {{oov_sample: {sample}}}\n").drift.oov_sample == sample


@pytest.mark.parametrize(
    ("sample", "said"),
    [
        (50, "too few to judge"),
        (199, "use 0 to not measure it, or at least 200"),
        (5001, "allowed: 0 to 5,000"),
        (-1, "allowed: 0 to 5,000"),
    ],
)
def test_an_oov_sample_that_cannot_judge_says_how_to_fix_it(sample: int, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + f"drift: {{oov_sample: {sample}}}\n")
    assert "oov_sample" in str(caught.value) and said in str(caught.value), str(caught.value)
