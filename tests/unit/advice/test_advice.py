"""`slipway plan`'s advice as tables: the article's rules, the commands, the durations, change detection."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import replace
from typing import Any

import pytest
import typer.main

from slipway.advice import (
    ARTICLE,
    QUOTES,
    Advice,
    Change,
    Quote,
    Situation,
    Stakes,
    VersionFacts,
    advise,
    detect_change,
    format_span,
    parse_stakes,
    parse_traffic,
)
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS
from slipway.cli.main import app as cli_app
from slipway.core.canary_schedule import parse_steps
from slipway.core.deployments import Strategy
from slipway.core.errors import ConfigError
from slipway.core.shadow import parse_sample, parse_until
from slipway.rollout.strategies.canary_state import MONITOR_WINDOWS, STABLE_AFTER_S

SHADOW, CANARY, BLUEGREEN = Strategy.SHADOW, Strategy.CANARY, Strategy.BLUEGREEN
ALL_CHANGES = list(Change)


def plan(change: Change, stakes: Stakes = Stakes.MEDIUM, **options: Any) -> Advice:
    return advise(Situation(change, stakes, version="v2.2", **options))


def cited(advice: Advice) -> set[Quote]:
    return {r.quote for r in advice.reasons}


# ------------------------------------------------------------------ the article's rules


@pytest.mark.parametrize(
    ("change", "stakes", "strategy", "quote"),
    [
        # "High-stakes deployments ... (medical, legal, financial)": shadow, whatever changed.
        *[(change, Stakes.HIGH, SHADOW, "high_stakes") for change in ALL_CHANGES],
        # "First deployment of a fine-tuned model replacing a prompt-engineered baseline"
        (Change.FIRST_FINETUNE, Stakes.LOW, SHADOW, "first"),
        (Change.FIRST_FINETUNE, Stakes.MEDIUM, SHADOW, "first"),
        # "Major retraining where the training data or methodology changed significantly"
        (Change.NEW_DATA, Stakes.LOW, SHADOW, "major"),
        (Change.NEW_DATA, Stakes.MEDIUM, SHADOW, "major"),
        # "Base model upgrades where you changed the underlying model, not just the adapter"
        (Change.BASE_UPGRADE, Stakes.LOW, SHADOW, "base"),
        (Change.BASE_UPGRADE, Stakes.MEDIUM, SHADOW, "base"),
        # "Shadow mode is overkill for routine monthly retraining ... Use canary for those."
        (Change.ADAPTER_RETRAIN, Stakes.LOW, CANARY, "overkill"),
        (Change.ADAPTER_RETRAIN, Stakes.MEDIUM, CANARY, "overkill"),
        # An instant full switch is acceptable only for a low-stakes config change (rollback is instant).
        (Change.CONFIG_ONLY, Stakes.LOW, BLUEGREEN, "bg_rollback"),
        # "Canary deployment catches problems before they affect all users."
        (Change.CONFIG_ONLY, Stakes.MEDIUM, CANARY, "gradual"),
    ],
)
def test_the_article_rules(change: Change, stakes: Stakes, strategy: Strategy, quote: str) -> None:
    advice = plan(change, stakes)
    assert advice.strategy is strategy
    assert QUOTES[quote] in cited(advice)
    assert {a.strategy for a in advice.alternatives} == set(Strategy) - {strategy}
    assert all(a.why_not for a in advice.alternatives)


def test_every_reason_for_shadow_is_given_when_several_apply() -> None:
    advice = plan(Change.BASE_UPGRADE, Stakes.HIGH, domain="medical")
    assert {QUOTES[k] for k in ("high_stakes", "base", "base_fails", "zero_risk", "promote")} <= cited(advice)
    assert "medical" in advice.reasons[0].text


def test_every_quote_is_used_somewhere() -> None:
    used: set[Quote] = set()
    notes = ""
    for change in ALL_CHANGES:
        for stakes in Stakes:
            for traffic in (None, 1e6):
                advice = plan(change, stakes, traffic_per_day=traffic)
                used |= cited(advice)
                used |= {a.quote for a in advice.alternatives if a.quote}
                notes += " ".join(advice.notes)
    unused = [key for key, q in QUOTES.items() if q not in used and q.text not in notes]
    assert not unused


@pytest.mark.parametrize(
    ("text", "stakes", "domain"),
    [
        ("low", Stakes.LOW, None),
        ("Medium", Stakes.MEDIUM, None),
        ("high", Stakes.HIGH, None),
        ("medical", Stakes.HIGH, "medical"),
        ("LEGAL", Stakes.HIGH, "legal"),
        (" financial ", Stakes.HIGH, "financial"),
    ],
)
def test_parse_stakes(text: str, stakes: Stakes, domain: str | None) -> None:
    assert parse_stakes(text) == (stakes, domain)


def test_unknown_stakes_say_what_is_known() -> None:
    with pytest.raises(ConfigError, match="unknown stakes 'huge'") as caught:
        parse_stakes("huge")
    assert "medical" in str(caught.value.hint)


@pytest.mark.parametrize(
    ("text", "per_day"),
    [
        ("5000", 5000),
        ("5000/d", 5000),
        ("200/h", 4800),
        ("3/s", 259_200),
        ("2.5 / min", 3600),
        ("10/day", 10),
    ],
)
def test_parse_traffic(text: str, per_day: float) -> None:
    assert parse_traffic(text) == pytest.approx(per_day)


@pytest.mark.parametrize("text", ["", "lots", "0", "-5", "5/week", "5%"])
def test_bad_traffic_is_refused(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_traffic(text)


# ------------------------------------------------------------------ commands


def deploy_options(advice: Advice) -> dict[str, str]:
    words = shlex.split(advice.commands[0].line)
    assert words[:3] == ["slipway", "deploy", "v2.2"]
    return dict(zip(words[3::2], words[4::2], strict=True))


@pytest.mark.parametrize(
    ("stakes", "pairs"), [(Stakes.LOW, 2000), (Stakes.MEDIUM, 2000), (Stakes.HIGH, 5000)]
)
def test_shadow_commands(stakes: Stakes, pairs: int) -> None:
    advice = plan(Change.NEW_DATA, stakes)
    options = deploy_options(advice)
    assert options == {"--strategy": "shadow", "--sample": "100%", "--until": f"{pairs}-pairs"}
    assert parse_sample(options["--sample"]) == 10_000
    assert parse_until(options["--until"]).pairs == pairs
    assert 1000 <= pairs <= 5000, "the article: typically 1,000-5,000"
    lines = [c.line for c in advice.commands]
    assert lines[-1] == "slipway shadow promote --via canary"
    assert "slipway shadow report" in lines


def test_canary_commands_use_the_article_steps_when_traffic_allows() -> None:
    for traffic in (None, 100_000.0):
        options = deploy_options(plan(Change.ADAPTER_RETRAIN, traffic_per_day=traffic))
        assert options["--strategy"] == "canary"
        assert options["--steps"] == "5%:2h,25%:4h,100%"
        assert "--smoke" in options


def test_bluegreen_commands_smoke_test_then_switch() -> None:
    advice = plan(Change.CONFIG_ONLY, Stakes.LOW)
    assert deploy_options(advice) == {"--strategy": "bluegreen", "--smoke": "smoke.jsonl"}
    assert "slipway rollback" in [c.line for c in advice.commands]


def _cli_problem(line: str) -> str | None:
    """Why `line` would not parse with the real CLI (command and option names only)."""
    command: Any = typer.main.get_command(cli_app)
    words = shlex.split(line)[1:]
    while words and not words[0].startswith("-") and isinstance(getattr(command, "commands", None), dict):
        name = words.pop(0)
        if name not in command.commands:
            return f"no command {name!r}"
        command = command.commands[name]
    options = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    unknown = [w for w in words if w.startswith("--") and w not in options]
    return f"no option(s) {unknown}" if unknown else None


@pytest.mark.parametrize(
    ("change", "stakes"), [(Change.ADAPTER_RETRAIN, Stakes.MEDIUM), (Change.CONFIG_ONLY, Stakes.LOW)]
)
def test_canary_and_bluegreen_commands_exist(change: Change, stakes: Stakes) -> None:
    for command in plan(change, stakes, traffic_per_day=1000).commands:
        assert _cli_problem(command.line) is None, command.line


# ------------------------------------------------------------------ how long


def test_shadow_duration_follows_traffic() -> None:
    advice = plan(Change.FIRST_FINETUNE, traffic_per_day=5000)
    collect, canary, monitoring = advice.stages
    assert collect.seconds == pytest.approx(2000 / 5000 * 86_400)  # 9.6 h
    assert format_span(collect.seconds) == "9.6 h"
    assert not monitoring.to_full_traffic
    assert advice.time_to_full_traffic_s == pytest.approx(collect.seconds + canary.seconds)  # type: ignore[operator]


def test_a_shadow_that_outlasts_the_default_expiry_gets_a_longer_until_that_parses() -> None:
    advice = plan(Change.FIRST_FINETUNE, traffic_per_day=200)  # 2,000 pairs take 10 days
    note = next(n for n in advice.notes if "--until" in n)
    until = note.split("--until ", 1)[1].split(" ", 1)[0]
    assert parse_until(until).seconds >= 10 * 86_400 and parse_until(until).pairs == 2000


def test_without_traffic_the_shadow_time_is_unknown_and_said_so() -> None:
    advice = plan(Change.FIRST_FINETUNE)
    assert advice.stages[0].seconds is None
    assert advice.time_to_full_traffic_s is None
    assert advice.time_to_full_traffic == "needs --traffic + 6.0 h"
    assert any("traffic not given" in n for n in advice.notes)


def test_a_busy_service_gets_the_article_canary_in_six_hours() -> None:
    advice = plan(Change.ADAPTER_RETRAIN, traffic_per_day=100_000)
    assert advice.time_to_full_traffic_s == 6 * 3600
    assert not any("lengthened" in n for n in advice.notes)


@pytest.mark.parametrize("traffic", [200.0, 1_000.0, 5_000.0, 20_000.0, 40_000.0])
def test_canary_phases_are_lengthened_until_a_check_can_judge(traffic: float) -> None:
    advice = plan(Change.ADAPTER_RETRAIN, traffic_per_day=traffic)
    steps = parse_steps(deploy_options(advice)["--steps"])
    seen = 0.0
    for asked, step in zip(parse_steps("5%:2h,25%:4h,100%"), steps, strict=True):
        if step.duration_s is None:
            break
        assert step.duration_s >= asked.duration_s  # type: ignore[operator]
        seen += traffic * step.percent / 100 * step.duration_s / 86_400
        # checks read every request since the canary started: by each phase end there are enough
        assert seen >= 100 * 1.5 - 1e-9
    assert any("lengthened" in n for n in advice.notes) == (steps != parse_steps("5%:2h,25%:4h,100%"))


def test_a_slow_ramp_suggests_bigger_steps() -> None:
    advice = plan(Change.ADAPTER_RETRAIN, traffic_per_day=200)
    bigger = [n for n in advice.notes if "bigger steps" in n]
    assert bigger and "--steps 25%:" in bigger[0]


def test_canary_min_samples_default_is_the_thresholds() -> None:
    required = [m.min_samples for m in DEFAULT_THRESHOLDS.metrics().values() if m.required and m.enabled]
    assert Situation(Change.ADAPTER_RETRAIN).canary_min_samples == max(required)


@pytest.mark.parametrize(
    ("traffic", "says"),
    [
        (20.0, "beyond the 30-day limit"),
        (100.0, "longer than a shadow run's default expiry"),
        (1_000_000.0, "--sample 0.2% spreads them over a day"),
    ],
)
def test_shadow_traffic_notes(traffic: float, says: str) -> None:
    assert any(says in n for n in plan(Change.NEW_DATA, traffic_per_day=traffic).notes)


def test_advice_is_json() -> None:
    data = json.loads(json.dumps(plan(Change.BASE_UPGRADE, Stakes.HIGH, traffic_per_day=3000).to_dict()))
    assert data["strategy"] == "shadow"
    assert all(r["section"] and r["quote"] for r in data["reasons"])
    assert data["article"] == ARTICLE
    assert data["commands"][0]["command"].startswith("slipway deploy v2.2 --strategy shadow")
    assert data["time_to_full_traffic_s"] > 0


# ------------------------------------------------------------------ detecting what changed

V21 = VersionFacts(
    "v2.1",
    base_fingerprint="aaaa" * 16,
    training_examples=1247,
    training_data_sha256="d1" * 32,
    lora_rank=4,
    lora_alpha=4.0,
    targets=("output.weight",),
    sha256="f1" * 32,
)


def v22(**changes: Any) -> VersionFacts:
    fields: dict[str, Any] = {
        "version": "v2.2",
        "base_fingerprint": V21.base_fingerprint,
        "training_examples": 1891,
        "training_data_sha256": "d2" * 32,
        "lora_rank": 4,
        "lora_alpha": 4.0,
        "targets": ("output.weight",),
        "sha256": "f2" * 32,
    }
    fields.update(changes)
    return VersionFacts(**fields)


@pytest.mark.parametrize(
    ("previous", "current", "change", "says"),
    [
        (None, v22(), Change.FIRST_FINETUNE, "first adapter version"),
        (V21, v22(base_fingerprint="bbbb" * 16), Change.BASE_UPGRADE, "another base model"),
        (V21, v22(sha256=V21.sha256), Change.CONFIG_ONLY, "same file"),
        (V21, v22(), Change.ADAPTER_RETRAIN, "1,247 → 1,891 (+52 %)"),
        (V21, v22(training_examples=1300), Change.ADAPTER_RETRAIN, "incrementally updated"),
        (V21, v22(training_examples=1200), Change.ADAPTER_RETRAIN, "incrementally updated"),
        (V21, v22(training_examples=2600), Change.NEW_DATA, "more than doubled"),
        (V21, v22(training_examples=900), Change.NEW_DATA, "removed or replaced"),
        (
            V21,
            v22(training_examples=1247, training_data_sha256=V21.training_data_sha256),
            Change.ADAPTER_RETRAIN,
            "a re-run on unchanged data",
        ),
        (V21, v22(lora_rank=16), Change.NEW_DATA, "LoRA rank 4 → 16"),
        (V21, v22(lora_alpha=8.0), Change.NEW_DATA, "LoRA alpha 4 → 8"),
        (V21, v22(targets=("output.weight", "blk.0.attn_q.weight")), Change.NEW_DATA, "target tensors"),
        (replace(V21, method="lora"), v22(method="dpo"), Change.NEW_DATA, "training method lora → dpo"),
        (V21, v22(training_examples=None), Change.NEW_DATA, "not recorded"),
    ],
)
def test_detect_change(
    previous: VersionFacts | None, current: VersionFacts, change: Change, says: str
) -> None:
    found = detect_change(previous, current)
    assert found.change is change
    assert says in " ".join(found.why)


def test_a_base_upgrade_wins_over_everything_else() -> None:
    found = detect_change(V21, v22(base_fingerprint="bbbb" * 16, lora_rank=16, training_examples=9000))
    assert found.change is Change.BASE_UPGRADE


def test_an_unrecorded_base_is_a_caveat_not_a_guess() -> None:
    found = detect_change(V21, v22(base_fingerprint=None))
    assert found.change is Change.ADAPTER_RETRAIN
    assert any("no base fingerprint recorded for v2.2" in c for c in found.caveats)


LLAMA_REPO = "huggingface.co/meta-llama/llama-3.2-1b-instruct"


def test_without_fingerprints_the_recorded_bases_are_compared() -> None:
    v21_named = replace(V21, base_fingerprint=None, base_recorded=LLAMA_REPO)
    same = detect_change(v21_named, v22(base_fingerprint=None, base_recorded=LLAMA_REPO))
    assert same.change is Change.ADAPTER_RETRAIN and not same.caveats
    assert f"same recorded base ({LLAMA_REPO})" in same.why
    other = v22(base_fingerprint=None, base_recorded="huggingface.co/qwen/qwen2.5-0.5b-instruct")
    upgrade = detect_change(v21_named, other)
    assert upgrade.change is Change.BASE_UPGRADE
    assert "qwen2.5-0.5b-instruct (v2.2): trained for another base model" in upgrade.why[0]
    # one fingerprint, one name: they cannot be compared, and the caveat says so
    mixed = detect_change(V21, v22(base_fingerprint=None, base_recorded=LLAMA_REPO))
    assert any("record their base in different ways" in c for c in mixed.caveats)


# ------------------------------------------------------------------ what users read

#: A requirement code (DF4, MW1, SH5), a line number (l.81, :81) or the project's word for the article.
_LEAKS = re.compile(r"\b[A-Z]{2,3}\d+\b|\bl\.\s?\d+|\.txt:\d+|\bseed\b", re.IGNORECASE)


@pytest.mark.parametrize("change", ALL_CHANGES)
@pytest.mark.parametrize("stakes", list(Stakes))
def test_users_read_rules_in_words_not_codes_or_line_numbers(change: Change, stakes: Stakes) -> None:
    for traffic in (None, 20.0, 200.0, 5_000.0, 1e6):
        text = json.dumps(plan(change, stakes, traffic_per_day=traffic).to_dict(), ensure_ascii=False)
        assert not _LEAKS.findall(text), text


def test_the_monitoring_stage_is_the_schedule_the_controller_runs() -> None:
    monitoring = plan(Change.ADAPTER_RETRAIN).stages[-1]
    assert monitoring.seconds == STABLE_AFTER_S
    assert monitoring.detail == "checks every 5 min for the first hour, every 30 min to 24 h, daily to a week"
    assert [every for _, every in MONITOR_WINDOWS] == [300.0, 1800.0, 86_400.0]
