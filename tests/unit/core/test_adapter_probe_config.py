"""The `adapter_probe:` section: defaults, and every bound refused with the field, the value and the range."""

from __future__ import annotations

import pytest

from slipway.core.config import parse_config
from slipway.core.errors import ConfigError

BASE = """\
active_slot: blue
slots:
  blue: {model: cs-v2.1, endpoint: "127.0.0.1:9001", kind: vllm}
"""


def test_defaults_when_the_section_is_absent() -> None:
    probe = parse_config(BASE).adapter_probe
    assert probe.enabled and probe.mode == "required"
    assert probe.prompts == []
    assert probe.requests_per_run(names=3, prompts=8) == 3 * 8 * (1 + probe.rounds)


def test_a_full_section_is_read() -> None:
    text = BASE + (
        "adapter_probe:\n"
        "  mode: warn\n  rounds: 3\n  concurrency: 4\n  max_tokens: 8\n  seed: 7\n"
        "  max_prompts: 2\n  max_names: 3\n  prompts: ['  refund my order  ', 'where is my parcel']\n"
    )
    probe = parse_config(text).adapter_probe
    assert (probe.mode, probe.rounds, probe.concurrency, probe.max_tokens, probe.seed) == ("warn", 3, 4, 8, 7)
    assert (probe.max_prompts, probe.max_names) == (2, 3)
    assert probe.prompts == ["refund my order", "where is my parcel"]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ("{rounds: 0}", ["adapter_probe.rounds", "1 to 50"]),
        ("{rounds: 1000}", ["adapter_probe.rounds", "1 to 50"]),
        ("{concurrency: 0}", ["adapter_probe.concurrency", "1 to 128"]),
        ("{max_tokens: 100000}", ["adapter_probe.max_tokens", "1 to 512"]),
        ("{max_tokens: .nan}", ["adapter_probe.max_tokens"]),
        ("{seed: -1}", ["adapter_probe.seed"]),
        ("{max_names: 1}", ["adapter_probe.max_names", "2 to 16"]),
        ("{mode: maybe}", ["adapter_probe.mode", "required", "warn"]),
        ("{enabled: sometimes}", ["adapter_probe.enabled"]),
        ("{prompts: ['']}", ["adapter_probe.prompts"]),
        ("{prompts: [" + ",".join(["q"] * 21) + "]}", ["adapter_probe.prompts", "20"]),
        ("{prompts: ['" + "x" * 4001 + "']}", ["adapter_probe.prompts", "4000"]),
        ("{round: 3}", ["adapter_probe.round"]),
    ],
)
def test_out_of_bounds_values_are_refused_by_name(section: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f"adapter_probe: {section}\n")
    text = str(caught.value)
    for word in words:
        assert word in text, text
