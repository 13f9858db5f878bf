"""Which strategy fits a deployment, as a decision table over what changed and what is at stake.

The source article gives the rules in prose: shadow mode for high-stakes
deployments, a first fine-tune replacing a prompt-engineered baseline, a major
retrain and a base-model upgrade; canary for routine retrains ("shadow mode is
overkill for routine monthly retraining on incrementally updated data");
blue-green, the simplest, when an instant full switch is acceptable because
rollback is instant. Here they are data, each reason carrying the article's
sentence, so `slipway plan` can say why and how long the road to full
traffic takes. Pure: no I/O, tested with tables.
"""

from __future__ import annotations

from slipway.advice.article import QUOTES
from slipway.advice.formatting import format_span, monitoring_text, rate, steps_spec, steps_text
from slipway.advice.recommendation import Advice, Alternative, Command, Reason, Stage
from slipway.advice.situation import Change, Situation, Stakes
from slipway.advice.timing import (
    MONITORING_S,
    PAIRS_HIGH_STAKES,
    PAIRS_USUAL,
    canary_notes,
    canary_steps,
    ramp_seconds,
    shadow_traffic_notes,
)
from slipway.core.deployments import Strategy
from slipway.rollout.strategies.canary_timing import DAY_S


def advise(situation: Situation) -> Advice:
    """The recommendation: strategy, the article's reasons, commands, how long, alternatives."""
    shadow = _shadow_reasons(situation)
    if shadow:
        return _shadow(situation, shadow)
    if situation.change is Change.CONFIG_ONLY and situation.stakes is Stakes.LOW:
        return _bluegreen(situation)
    return _canary(situation)


def _shadow_reasons(situation: Situation) -> list[Reason]:
    reasons = []
    if situation.stakes is Stakes.HIGH:
        where = f" ({situation.domain})" if situation.domain else ""
        reasons.append(
            Reason(
                f"high stakes{where}: a bad answer has significant consequences, so no user should see the "
                "candidate before it has been compared with production",
                QUOTES["high_stakes"],
            )
        )
    by_change = {
        Change.FIRST_FINETUNE: Reason(
            "the first fine-tune replacing a prompt-engineered baseline: nothing in production behaves "
            "like it yet, so compare it on real traffic first",
            QUOTES["first"],
        ),
        Change.NEW_DATA: Reason(
            "the training data or method changed significantly: the last release says little about "
            "how this one behaves",
            QUOTES["major"],
        ),
        Change.BASE_UPGRADE: Reason(
            "the base model changed, not just the adapter: its failures are subtle and show only in a "
            "side-by-side comparison",
            QUOTES["base"],
        ),
    }
    if situation.change in by_change:
        reasons.append(by_change[situation.change])
    if situation.change is Change.BASE_UPGRADE:
        reasons.append(
            Reason(
                "an adapter trained for one base does not align with another; no error says so",
                QUOTES["base_fails"],
            )
        )
    return reasons


def _shadow(situation: Situation, reasons: list[Reason]) -> Advice:
    pairs = PAIRS_HIGH_STAKES if situation.stakes is Stakes.HIGH else PAIRS_USUAL
    reasons = [
        *reasons,
        Reason("users never see the candidate's answers; what it costs is time", QUOTES["zero_risk"]),
        Reason("a candidate that wins is then promoted through a canary", QUOTES["promote"]),
    ]
    notes: list[str] = []
    traffic = situation.traffic_per_day
    collect_s = pairs / traffic * DAY_S if traffic else None
    if traffic:
        detail = f"{pairs:,} pairs at {rate(traffic)}, every request mirrored: {format_span(collect_s)}"
        notes += shadow_traffic_notes(pairs, traffic)
    else:
        detail = f"{pairs:,} pairs (the article: typically 1,000–5,000); pass --traffic to estimate how long"
    why_pairs = (
        "high stakes: the top of the article's typical 1,000–5,000, enough to see a 5 % drop within a "
        "category"
        if situation.stakes is Stakes.HIGH
        else "inside the article's typical 1,000–5,000: enough for a per-category comparison"
    )
    steps = canary_steps(situation)
    canary_s = ramp_seconds(steps)
    v = situation.version
    commands = (
        Command(
            f"slipway deploy {v} --strategy shadow --sample 100% --until {pairs}-pairs",
            f"mirror every request to {v}; users get production's answer; stops at {pairs:,} pairs "
            f"({why_pairs})",
        ),
        Command("slipway shadow status", "pairs collected, and how many more each category needs"),
        Command("slipway shadow report", "format, correctness and preference per pair; regressions grouped"),
        Command(
            "slipway shadow promote --via canary",
            "if it wins: ramp it through a canary, so live traffic still meets it gradually",
        ),
    )
    stages = (
        Stage("shadow: collect pairs", collect_s, detail, unknown="needs --traffic"),
        Stage("canary after promotion", canary_s, steps_text(steps, situation.traffic_per_day)),
        Stage("monitoring", MONITORING_S, monitoring_text(), to_full_traffic=False),
    )
    alternatives = (
        Alternative(
            Strategy.CANARY,
            "it serves the candidate's answers to real users from the first request; at 5 % a 30 % "
            "failure on one category still reaches 1.5 % of that category — here, compare first. "
            "The canary still follows, as the promotion.",
            QUOTES["blast"],
        ),
        Alternative(
            Strategy.BLUEGREEN,
            "it switches every user at once; rollback is instant, but every user has met the candidate "
            "by then. It stays the rollback mechanism once the version is live.",
            QUOTES["bg_rollback"],
        ),
    )
    notes.append(
        "the candidate answers every mirrored request too: budget its compute, or mirror a share "
        "with --sample (fewer pairs per day, a longer run)"
    )
    return Advice(
        Strategy.SHADOW, situation, tuple(reasons), commands, stages, alternatives, _common(situation, notes)
    )


def _canary(situation: Situation) -> Advice:
    if situation.change is Change.CONFIG_ONLY:
        reasons = [
            Reason(
                "a configuration or prompt change still changes what users see; at medium stakes ramp it "
                "so a problem reaches few users before the checks stop it",
                QUOTES["gradual"],
            )
        ]
    else:
        reasons = [
            Reason(
                "a routine retrain on incrementally updated data: shadow mode would be overkill",
                QUOTES["overkill"],
            ),
            Reason(
                "the canary catches what the evaluation missed before it reaches all users", QUOTES["gradual"]
            ),
        ]
    reasons += [
        Reason("the damage while it is bad is bounded by the canary's share", QUOTES["blast"]),
        Reason("checks every 15 min halt or promote it without anyone watching", QUOTES["unattended"]),
    ]
    steps = canary_steps(situation)
    v = situation.version
    commands = (
        Command(
            f"slipway deploy {v} --strategy canary --smoke smoke.jsonl --steps {steps_spec(steps)}",
            "smoke-test the standby slot, then ramp with checks every 15 min; any threshold crossed "
            "rolls it back",
        ),
        Command("slipway canary watch", "phase, checks and verdicts as they happen"),
        Command("slipway canary abort", "roll back by hand at any point: canary weight to 0 %"),
    )
    stages = (
        Stage("canary ramp", ramp_seconds(steps), steps_text(steps, situation.traffic_per_day)),
        Stage("monitoring", MONITORING_S, monitoring_text(), to_full_traffic=False),
    )
    shadow_why = (
        "overkill for a routine retrain on incrementally updated data: it holds the release back for "
        f"{PAIRS_USUAL:,} pairs of mirroring and doubles the inference work meanwhile"
        if situation.change is Change.ADAPTER_RETRAIN
        else "it is for high stakes, new models, major retrains and base upgrades; at medium stakes the "
        "canary's small blast radius is enough for a config change"
    )
    alternatives = (
        Alternative(Strategy.SHADOW, shadow_why, QUOTES["overkill"]),
        Alternative(
            Strategy.BLUEGREEN,
            "it switches 100 % of traffic at once; keep it as the rollback mechanism, not the rollout",
            QUOTES["gradual"],
        ),
    )
    return Advice(
        Strategy.CANARY,
        situation,
        tuple(reasons),
        commands,
        stages,
        alternatives,
        _common(situation, canary_notes(situation)),
    )


def _bluegreen(situation: Situation) -> Advice:
    reasons = (
        Reason(
            "a low-stakes configuration change: an instant full switch is acceptable because rollback "
            "is one command and just as instant",
            QUOTES["bg_rollback"],
        ),
        Reason("the simplest strategy, and the rollback mechanism of the other two", QUOTES["bg_simplest"]),
        Reason("the smoke test still runs against the standby slot before the switch", QUOTES["smoke"]),
    )
    v = situation.version
    commands = (
        Command(
            f"slipway deploy {v} --strategy bluegreen --smoke smoke.jsonl",
            "load it into the standby slot, run the 10–20 smoke prompts, switch; the old slot stays loaded",
        ),
        Command("slipway status", "which slot is live, and the previous one kept warm"),
        Command("slipway rollback", "if metrics slide: switch back, in under a second"),
    )
    stages = (
        Stage("stage, smoke test, switch", None, "load, 10–20 smoke prompts, one switch", unknown="minutes"),
        Stage("monitoring", MONITORING_S, monitoring_text(), to_full_traffic=False),
    )
    alternatives = (
        Alternative(
            Strategy.CANARY,
            "a ramp adds hours of checks for a low-stakes change; choose it when the change alters "
            "answers in ways a smoke test cannot catch",
            QUOTES["gradual"],
        ),
        Alternative(
            Strategy.SHADOW,
            "it is for high stakes, new models, major retrains and base upgrades; this is none of them",
            QUOTES["overkill"],
        ),
    )
    notes = ["two slots stay loaded until the version is stable: budget memory for both"]
    return Advice(
        Strategy.BLUEGREEN,
        situation,
        reasons,
        commands,
        stages,
        alternatives,
        _common(situation, notes, traffic=False),
    )


def _common(situation: Situation, notes: list[str], *, traffic: bool = True) -> tuple[str, ...]:
    """Notes every recommendation shares: what was assumed and, where durations depend on it,
    missing traffic."""
    out = []
    if situation.stakes_assumed:
        out.append(
            "stakes not given: assumed medium (--stakes low|medium|high, or medical, legal, financial = high)"
        )
    if traffic and situation.traffic_per_day is None:
        out.append("traffic not given: durations that depend on it are not estimated (--traffic 5000/d)")
    return (*out, *notes)
