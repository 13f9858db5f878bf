"""The routing file's `canary:` and `notify:` sections: defaults, overrides, errors naming the field."""

from __future__ import annotations

import pytest

from slipway.app import canary_analysis
from slipway.core.canary_schedule import InconclusivePolicy
from slipway.core.config import parse_config
from slipway.core.errors import ConfigError

BASE = 'active_slot: blue\nslots: {blue: {model: m, endpoint: "h:1"}}\n'


def test_without_the_sections_the_seed_defaults_apply() -> None:
    config = parse_config(BASE)
    plan = config.canary.schedule()
    assert (plan.steps_text, plan.interval_s, plan.inconclusive) == ("5%:2h,25%:4h,100%", 900, "rollback")
    assert config.notify.webhooks == [] and config.notify.log
    thresholds, checks = canary_analysis(config)
    assert thresholds.accuracy.threshold == 0.05 and len(checks) >= 3


def test_the_sections_set_the_next_canary_and_flags_still_win() -> None:
    config = parse_config(
        BASE
        + "canary:\n  steps: [1%:30m, 10%:1h, 100%]\n  interval: 5m\n  inconclusive: extend\n"
        + "  thresholds: {latency_p95: {action: rollback}}\n"
        + "notify: {webhooks: ['https://hooks.example/x'], retries: 0}\n"
    )
    plan = config.canary.schedule()
    assert (plan.steps_text, plan.interval_s, plan.inconclusive) == (
        "1%:30m,10%:1h,100%",
        300,
        InconclusivePolicy.EXTEND,
    )
    assert config.canary.schedule(steps="50%:1m,100%", interval="30s").steps_text == "50%:1m,100%"
    thresholds, _ = canary_analysis(config)
    assert thresholds.latency_p95.action == "rollback" and thresholds.latency_p95.threshold == 1.5
    assert (config.notify.webhooks, config.notify.retries) == (["https://hooks.example/x"], 0)


@pytest.mark.parametrize(
    ("section", "field", "message"),
    [
        ("canary: {steps: '5%:2h,25%'}", "canary.steps", "needs a duration"),
        ("canary: {interval: '15'}", "canary.interval", "add a unit"),
        ("canary: {inconclusive: maybe}", "canary.inconclusive", "extend"),
        ("notify: {webhooks: ['ftp://x']}", "notify.webhooks", r"not an http\(s\) URL"),
        ("notify: {retries: 99}", "notify.retries", "10"),
        ("canary: {wat: 1}", "canary.wat", "unknown field"),
    ],
)
def test_a_bad_section_names_its_line_and_field(section: str, field: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(BASE + section + "\n", "slipway.yaml")
    assert caught.value.field == field and caught.value.line == 3


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ("thresholds: {latency_p95: {action: panic}}", "canary.thresholds.latency_p95.action"),
        ("thresholds: {nonsense: 1}", "canary.thresholds.nonsense"),
        ("output_checks: {max_run: 1}", "canary.output_checks.max_run"),
    ],
)
def test_bad_thresholds_or_output_checks_refuse_the_file(overrides: str, field: str) -> None:
    config = parse_config(BASE + f"canary: {{{overrides}}}\n")
    with pytest.raises(ConfigError) as caught:
        canary_analysis(config, "slipway.yaml")
    assert caught.value.field == field and caught.value.source == "slipway.yaml"
