"""Which strategy fits a deployment (SH5), as a decision table over what changed and what is at stake.

The seed gives the rules in prose: shadow mode for high-stakes deployments,
a first fine-tune replacing a prompt-engineered baseline, a major retrain
and a base-model upgrade; canary for routine retrains ("shadow mode is
overkill for routine monthly retraining on incrementally updated data");
blue-green, the simplest, when an instant full switch is acceptable because
rollback is instant. Here they are data, each carrying the sentence of the
seed it comes from, so `slipway plan` can say why — and how long the
recommendation will take at the operator's traffic, because a shadow run
needs 1,000–5,000 pairs and a canary phase needs enough candidate requests
for a verdict (an inconclusive phase end rolls back, DF4).

`detect_change` infers what changed from two adapter versions' recorded
facts (the CLI reads them from the registry); explicit flags win over it.
Pure: no I/O, tested with tables.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from slipway.core.canary_plan import DEFAULT_INTERVAL, DEFAULT_STEPS, CanaryStep, format_duration, parse_steps
from slipway.core.deployments import Strategy
from slipway.core.errors import ConfigError
from slipway.core.shadow import DEFAULT_EXPIRY_S, MAX_EXPIRY_S
from slipway.rollout.strategies.canary_timing import stretched_steps

SEED = "rolling-back-fine-tuned-models.txt"

DAY_S = 86_400.0
#: MW1: checks every 5 min for an hour, every 30 min for a day, daily for a week; stable after a clean week.
MONITORING_S = 7 * DAY_S
#: A ramp longer than this is worth shortening with bigger steps (`BIGGER_STEPS`).
SLOW_RAMP_S = 7 * DAY_S
BIGGER_STEPS = "25%:2h,50%:4h,100%"
#: "Compare outputs after collecting enough data (typically 1,000-5,000 requests)".
PAIRS_MIN, PAIRS_USUAL, PAIRS_HIGH_STAKES = 1_000, 2_000, 5_000
#: Training examples may shrink a little (deduplication) or at most double and still count as the
#: "incrementally updated data" of a routine retrain; outside this the data changed significantly.
INCREMENTAL_RATIO = (0.9, 2.0)
HIGH_STAKES_DOMAINS = ("medical", "legal", "financial")


class Change(StrEnum):
    """What is different about the version being deployed."""

    ADAPTER_RETRAIN = "adapter-retrain"
    NEW_DATA = "new-data"
    BASE_UPGRADE = "base-upgrade"
    FIRST_FINETUNE = "first-finetune"
    CONFIG_ONLY = "config-only"

    @property
    def meaning(self) -> str:
        return _CHANGE_MEANING[self]


_CHANGE_MEANING = {
    Change.ADAPTER_RETRAIN: "a routine retrain of the adapter on incrementally updated data",
    Change.NEW_DATA: "a major retrain: the training data or method changed significantly",
    Change.BASE_UPGRADE: "a base-model upgrade: the underlying model changed, not just the adapter",
    Change.FIRST_FINETUNE: "the first fine-tune, replacing a prompt-engineered baseline",
    Change.CONFIG_ONLY: "a configuration or prompt change; the weights are the same",
}


class Stakes(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class SeedQuote:
    """A sentence of the seed article and its line there, so every reason can be checked."""

    line: int
    text: str

    def cite(self) -> str:
        return f'{SEED}:{self.line}: "{self.text}"'


Q = {
    "high_stakes": SeedQuote(
        81,
        "High-stakes deployments where a bad response has significant consequences "
        "(medical, legal, financial)",
    ),
    "first": SeedQuote(82, "First deployment of a fine-tuned model replacing a prompt-engineered baseline"),
    "major": SeedQuote(83, "Major retraining where the training data or methodology changed significantly"),
    "base": SeedQuote(84, "Base model upgrades where you changed the underlying model, not just the adapter"),
    "base_fails": SeedQuote(
        12,
        "The adapter was trained for the old base. The weights do not align. Outputs degrade in "
        "subtle, hard-to-detect ways.",
    ),
    "zero_risk": SeedQuote(
        78,
        "Users never see the new model's output. There is zero risk to user experience. The "
        "trade-off is time",
    ),
    "promote": SeedQuote(77, "If the new model is better, promote it using blue-green or canary"),
    "overkill": SeedQuote(
        85,
        "Shadow mode is overkill for routine monthly retraining on incrementally updated data. "
        "Use canary for those.",
    ),
    "gradual": SeedQuote(
        42,
        "Canary deployment catches problems before they affect all users. Instead of switching "
        "100% of traffic at once, you ramp up gradually.",
    ),
    "blast": SeedQuote(
        61,
        "At 5% traffic, if the new model has a 30% failure rate on a specific category, only 1.5% "
        "of total requests for that category are affected.",
    ),
    "unattended": SeedQuote(68, "The entire canary process can run unattended."),
    "bg_simplest": SeedQuote(
        15, "Blue-green deployment is the simplest strategy and the one you should implement first."
    ),
    "bg_rollback": SeedQuote(
        26, "Rollback time: under 10 seconds. It is a configuration change, not a model reload."
    ),
    "smoke": SeedQuote(20, "Run a smoke test against the standby slot — 10-20 representative prompts"),
    "time_of_day": SeedQuote(
        153,
        "This catches slow degradation — subtle quality shifts that only become apparent with "
        "large sample sizes, time-of-day patterns, weekly usage patterns",
    ),
}


@dataclass(frozen=True, slots=True)
class PlanInput:
    """What `advise` needs; `canary_min_samples` is the per-arm minimum a canary check needs
    (analysis.thresholds' required metrics: 100 by default)."""

    change: Change
    stakes: Stakes = Stakes.MEDIUM
    domain: str | None = None
    traffic_per_day: float | None = None
    version: str = "VERSION"
    stakes_assumed: bool = False
    canary_steps: str = DEFAULT_STEPS
    canary_min_samples: int = 100


@dataclass(frozen=True, slots=True)
class Reason:
    text: str
    quote: SeedQuote


@dataclass(frozen=True, slots=True)
class Command:
    line: str
    why: str


@dataclass(frozen=True, slots=True)
class Stage:
    """One stretch of the road to full traffic; `seconds` None when it cannot be estimated."""

    what: str
    seconds: float | None
    detail: str
    #: Part of the time until every user is served by the new version (monitoring is not).
    to_full_traffic: bool = True
    #: Said instead of a number when `seconds` is None ("minutes", "needs --traffic").
    unknown: str = "unknown"

    @property
    def span(self) -> str:
        return self.unknown if self.seconds is None else format_span(self.seconds)


@dataclass(frozen=True, slots=True)
class Alternative:
    strategy: Strategy
    why_not: str
    quote: SeedQuote | None = None


@dataclass(frozen=True)
class Advice:
    strategy: Strategy
    plan: PlanInput
    reasons: tuple[Reason, ...]
    commands: tuple[Command, ...]
    stages: tuple[Stage, ...]
    alternatives: tuple[Alternative, ...]
    notes: tuple[str, ...] = ()

    @property
    def time_to_full_traffic_s(self) -> float | None:
        """Until every user is served by the new version; None when a stage cannot be estimated."""
        total = 0.0
        for stage in self.stages:
            if stage.to_full_traffic:
                if stage.seconds is None:
                    return None
                total += stage.seconds
        return total

    @property
    def time_to_full_traffic(self) -> str:
        """The same for people: '28.6 h', or the stages' own words where a number is unknown."""
        total = self.time_to_full_traffic_s
        if total is not None:
            return format_span(total)
        return " + ".join(s.span for s in self.stages if s.to_full_traffic)

    def to_dict(self) -> dict[str, Any]:
        p = self.plan
        return {
            "strategy": self.strategy.value,
            "change": p.change.value,
            "change_meaning": p.change.meaning,
            "stakes": p.stakes.value,
            "stakes_assumed": p.stakes_assumed,
            "domain": p.domain,
            "traffic_per_day": p.traffic_per_day,
            "version": p.version,
            "reasons": [_quoted(r.text, r.quote) for r in self.reasons],
            "commands": [{"command": c.line, "why": c.why} for c in self.commands],
            "stages": [
                {
                    "stage": s.what,
                    "seconds": s.seconds,
                    "time": s.span,
                    "detail": s.detail,
                    "to_full_traffic": s.to_full_traffic,
                }
                for s in self.stages
            ],
            "time_to_full_traffic_s": self.time_to_full_traffic_s,
            "time_to_full_traffic": self.time_to_full_traffic,
            "alternatives": [
                {"strategy": a.strategy.value, **_quoted(a.why_not, a.quote, key="why_not")}
                for a in self.alternatives
            ],
            "notes": list(self.notes),
        }


def _quoted(text: str, quote: SeedQuote | None, key: str = "text") -> dict[str, Any]:
    return {
        key: text,
        "seed_line": quote.line if quote else None,
        "seed": quote.text if quote else None,
    }


# --------------------------------------------------------------------------- inputs


def parse_stakes(text: str) -> tuple[Stakes, str | None]:
    """'low' | 'medium' | 'high' | a high-stakes domain ('medical', 'legal', 'financial')."""
    word = text.strip().lower()
    if word in HIGH_STAKES_DOMAINS:
        return Stakes.HIGH, word
    try:
        return Stakes(word), None
    except ValueError:
        known = ", ".join([*(s.value for s in Stakes), *HIGH_STAKES_DOMAINS])
        raise ConfigError(f"unknown stakes {text!r}", hint=f"use one of: {known}") from None


_TRAFFIC = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*(s|sec|m|min|h|hour|d|day))?\s*$", re.IGNORECASE)
_PER = {"s": 86_400, "sec": 86_400, "m": 1_440, "min": 1_440, "h": 24, "hour": 24, "d": 1, "day": 1}


def parse_traffic(text: str) -> float:
    """Production requests per day from '5000', '5000/d', '200/h', '3/s'."""
    match = _TRAFFIC.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"traffic {text!r} is not a request rate", hint="write requests per day (5000) or 200/h, 3/s"
        )
    return float(match.group(1)) * _PER[(match.group(2) or "d").lower()]


# --------------------------------------------------------------------------- detection


@dataclass(frozen=True, slots=True)
class VersionFacts:
    """What an adapter version records about itself (the registry's metadata, reduced)."""

    version: str
    base_fingerprint: str | None = None
    training_examples: int | None = None
    training_data_sha256: str | None = None
    #: A training method recorded with the version (e.g. the sidecar's training.method).
    method: str | None = None
    lora_rank: int | None = None
    lora_alpha: float | None = None
    targets: tuple[str, ...] = ()
    #: The adapter file's own hash.
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Detection:
    change: Change
    #: The facts that decided it.
    why: tuple[str, ...]
    #: What could not be checked, so the operator knows when to pass --change.
    caveats: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change.value, "why": list(self.why), "caveats": list(self.caveats)}


def detect_change(previous: VersionFacts | None, current: VersionFacts) -> Detection:
    """The biggest change between two versions wins: base, then identity, method, data."""
    if previous is None:
        return Detection(
            Change.FIRST_FINETUNE,
            (
                f"{current.version} is the first adapter version of this model: it replaces whatever "
                "serves today (a prompt-engineered baseline)",
            ),
        )
    prev, cur = previous, current
    caveats: list[str] = []
    if prev.base_fingerprint and cur.base_fingerprint:
        if prev.base_fingerprint != cur.base_fingerprint:
            return Detection(
                Change.BASE_UPGRADE,
                (
                    f"base fingerprint {_fp(prev.base_fingerprint)} ({prev.version}) → "
                    f"{_fp(cur.base_fingerprint)} ({cur.version}): trained for another base model",
                ),
            )
    else:
        unknown = [v.version for v in (prev, cur) if not v.base_fingerprint]
        caveats.append(
            f"no base fingerprint recorded for {', '.join(unknown)}: a base upgrade is not ruled out"
        )
    same_base = f"same base ({_fp(cur.base_fingerprint)})" if not caveats else ""
    if prev.sha256 and prev.sha256 == cur.sha256:
        return Detection(
            Change.CONFIG_ONLY,
            (f"{prev.version} and {cur.version} are the same file (sha256 {prev.sha256[:12]}…)",),
            tuple(caveats),
        )
    method = _method_changes(prev, cur)
    if method:
        return Detection(Change.NEW_DATA, (*method, *_keep(same_base)), tuple(caveats))
    return _data_change(prev, cur, same_base, caveats)


def _data_change(prev: VersionFacts, cur: VersionFacts, same_base: str, caveats: list[str]) -> Detection:
    n0, n1 = prev.training_examples, cur.training_examples
    hashes = prev.training_data_sha256 and cur.training_data_sha256
    if n0 is None or n1 is None or n0 <= 0:
        return Detection(
            Change.NEW_DATA,
            (
                f"training examples not recorded for {prev.version if n0 is None else cur.version}: "
                "nothing shows the data was only incrementally updated, so the cautious reading",
                *_keep(same_base),
            ),
            tuple(caveats),
        )
    ratio = n1 / n0
    counts = f"training examples {n0:,} → {n1:,} ({(ratio - 1) * 100:+.0f} %)"
    if hashes and prev.training_data_sha256 == cur.training_data_sha256 and n0 == n1:
        data = (
            f"same training data (sha256 {str(cur.training_data_sha256)[:12]}…): a re-run on unchanged data"
        )
        return Detection(Change.ADAPTER_RETRAIN, (data, *_keep(same_base)), tuple(caveats))
    low, high = INCREMENTAL_RATIO
    if ratio > high:
        why = f"{counts}: more than doubled, not an incremental update"
        return Detection(Change.NEW_DATA, (why, *_keep(same_base)), tuple(caveats))
    if ratio < low:
        why = f"{counts}: data was removed or replaced, not an incremental update"
        return Detection(Change.NEW_DATA, (why, *_keep(same_base)), tuple(caveats))
    data_hash = "training data hash changed" if hashes else "no training data hash to compare"
    why = f"{counts}, {data_hash}: incrementally updated data"
    return Detection(Change.ADAPTER_RETRAIN, (why, "same LoRA shape", *_keep(same_base)), tuple(caveats))


def _method_changes(prev: VersionFacts, cur: VersionFacts) -> list[str]:
    out = []
    if prev.method and cur.method and prev.method != cur.method:
        out.append(f"training method {prev.method} → {cur.method}")
    if prev.lora_rank and cur.lora_rank and prev.lora_rank != cur.lora_rank:
        out.append(f"LoRA rank {prev.lora_rank} → {cur.lora_rank}")
    if prev.lora_alpha and cur.lora_alpha and prev.lora_alpha != cur.lora_alpha:
        out.append(f"LoRA alpha {prev.lora_alpha:g} → {cur.lora_alpha:g}")
    if prev.targets and cur.targets and set(prev.targets) != set(cur.targets):
        added = sorted(set(cur.targets) - set(prev.targets))
        dropped = sorted(set(prev.targets) - set(cur.targets))
        parts = [f"+{len(added)}" if added else "", f"-{len(dropped)}" if dropped else ""]
        out.append(f"LoRA target tensors changed ({' '.join(p for p in parts if p)})")
    return [f"{text}: the training method changed" for text in out]


def _fp(fingerprint: str | None) -> str:
    return f"{fingerprint[:12]}…" if fingerprint else "unknown"


def _keep(text: str) -> tuple[str, ...]:
    return (text,) if text else ()


# --------------------------------------------------------------------------- the rules


def advise(plan: PlanInput) -> Advice:
    """The recommendation: strategy, the seed's reasons, commands, how long, alternatives."""
    shadow = _shadow_reasons(plan)
    if shadow:
        return _shadow(plan, shadow)
    if plan.change is Change.CONFIG_ONLY and plan.stakes is Stakes.LOW:
        return _bluegreen(plan)
    return _canary(plan)


def _shadow_reasons(plan: PlanInput) -> list[Reason]:
    reasons = []
    if plan.stakes is Stakes.HIGH:
        where = f" ({plan.domain})" if plan.domain else ""
        reasons.append(
            Reason(
                f"high stakes{where}: a bad answer has significant consequences, so no user should see the "
                "candidate before it has been compared with production",
                Q["high_stakes"],
            )
        )
    by_change = {
        Change.FIRST_FINETUNE: Reason(
            "the first fine-tune replacing a prompt-engineered baseline: nothing in production behaves "
            "like it yet, so compare it on real traffic first",
            Q["first"],
        ),
        Change.NEW_DATA: Reason(
            "the training data or method changed significantly: the last release says little about "
            "how this one behaves",
            Q["major"],
        ),
        Change.BASE_UPGRADE: Reason(
            "the base model changed, not just the adapter: its failures are subtle and show only in a "
            "side-by-side comparison",
            Q["base"],
        ),
    }
    if plan.change in by_change:
        reasons.append(by_change[plan.change])
    if plan.change is Change.BASE_UPGRADE:
        reasons.append(
            Reason(
                "an adapter trained for one base does not align with another; no error says so",
                Q["base_fails"],
            )
        )
    return reasons


def _shadow(plan: PlanInput, reasons: list[Reason]) -> Advice:
    pairs = PAIRS_HIGH_STAKES if plan.stakes is Stakes.HIGH else PAIRS_USUAL
    reasons = [
        *reasons,
        Reason("users never see the candidate's answers; what it costs is time", Q["zero_risk"]),
        Reason("a candidate that wins is then promoted through a canary", Q["promote"]),
    ]
    notes: list[str] = []
    traffic = plan.traffic_per_day
    collect_s = pairs / traffic * DAY_S if traffic else None
    if traffic:
        detail = f"{pairs:,} pairs at {_rate(traffic)}, every request mirrored: {format_span(collect_s)}"
        notes += _shadow_traffic_notes(pairs, traffic)
    else:
        detail = f"{pairs:,} pairs (the seed: 1,000–5,000); pass --traffic to estimate how long"
    why_pairs = (
        "high stakes: the top of the seed's 1,000–5,000, enough to see a 5 % drop within a category"
        if plan.stakes is Stakes.HIGH
        else "inside the seed's 1,000–5,000: enough for a per-category comparison"
    )
    steps = _stretched_steps(plan)
    canary_s = _ramp_seconds(steps)
    v = plan.version
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
        Stage("canary after promotion", canary_s, _steps_text(steps, plan)),
        Stage("monitoring", MONITORING_S, _MONITORING_TEXT, to_full_traffic=False),
    )
    alternatives = (
        Alternative(
            Strategy.CANARY,
            "it serves the candidate's answers to real users from the first request; at 5 % a 30 % "
            "failure on one category still reaches 1.5 % of that category — here, compare first. "
            "The canary still follows, as the promotion.",
            Q["blast"],
        ),
        Alternative(
            Strategy.BLUEGREEN,
            "it switches every user at once; rollback is instant, but every user has met the candidate "
            "by then. It stays the rollback mechanism once the version is live.",
            Q["bg_rollback"],
        ),
    )
    notes.append(
        "the candidate answers every mirrored request too: budget its compute, or mirror a share "
        "with --sample (fewer pairs per day, a longer run)"
    )
    return Advice(Strategy.SHADOW, plan, tuple(reasons), commands, stages, alternatives, _common(plan, notes))


def _shadow_traffic_notes(pairs: int, traffic: float) -> list[str]:
    notes = []
    took = pairs / traffic * DAY_S
    least = PAIRS_MIN / traffic * DAY_S
    if least > MAX_EXPIRY_S:
        notes.append(
            f"at {_rate(traffic)} even {PAIRS_MIN:,} pairs take {format_span(least)}, beyond the 30-day "
            "limit of a shadow run: replay evaluation cases through the shadow as well, or accept a "
            "comparison on fewer pairs"
        )
    elif took > DEFAULT_EXPIRY_S:
        notes.append(
            f"{pairs:,} pairs take {format_span(took)} at {_rate(traffic)}, longer than a shadow run's "
            f"default expiry ({format_span(DEFAULT_EXPIRY_S)}): add a longer time to --until, e.g. "
            f"--until {pairs}-pairs,{min(30, math.ceil(took / DAY_S))}d (at most 30d), or settle for "
            f"{PAIRS_MIN:,} pairs"
        )
    elif took < DAY_S:
        share = max(math.ceil(pairs / traffic * 10_000), 1) / 100
        notes.append(
            f"{pairs:,} pairs take only {format_span(took)} at this traffic: --sample {share:g}% spreads "
            f"them over a day, so quiet and busy hours are both compared ({SEED}:{Q['time_of_day'].line})"
        )
    return notes


def _canary(plan: PlanInput) -> Advice:
    if plan.change is Change.CONFIG_ONLY:
        reasons = [
            Reason(
                "a configuration or prompt change still changes what users see; at medium stakes ramp it "
                "so a problem reaches few users before the checks stop it",
                Q["gradual"],
            )
        ]
    else:
        reasons = [
            Reason(
                "a routine retrain on incrementally updated data: shadow mode would be overkill",
                Q["overkill"],
            ),
            Reason("the canary catches what the evaluation missed before it reaches all users", Q["gradual"]),
        ]
    reasons += [
        Reason("the damage while it is bad is bounded by the canary's share", Q["blast"]),
        Reason("checks every 15 min halt or promote it without anyone watching", Q["unattended"]),
    ]
    steps = _stretched_steps(plan)
    v = plan.version
    commands = (
        Command(
            f"slipway deploy {v} --strategy canary --smoke smoke.jsonl --steps {_steps_spec(steps)}",
            "smoke-test the standby slot, then ramp with checks every 15 min; any threshold crossed "
            "rolls it back",
        ),
        Command("slipway canary watch", "phase, checks and verdicts as they happen"),
        Command("slipway abort", "roll back by hand at any point: canary weight to 0 %"),
    )
    stages = (
        Stage("canary ramp", _ramp_seconds(steps), _steps_text(steps, plan)),
        Stage("monitoring", MONITORING_S, _MONITORING_TEXT, to_full_traffic=False),
    )
    shadow_why = (
        "overkill for a routine retrain on incrementally updated data: it holds the release back for "
        f"{PAIRS_USUAL:,} pairs of mirroring and doubles the inference work meanwhile"
        if plan.change is Change.ADAPTER_RETRAIN
        else "it is for high stakes, new models, major retrains and base upgrades; at medium stakes the "
        "canary's small blast radius is enough for a config change"
    )
    alternatives = (
        Alternative(Strategy.SHADOW, shadow_why, Q["overkill"]),
        Alternative(
            Strategy.BLUEGREEN,
            "it switches 100 % of traffic at once; keep it as the rollback mechanism, not the rollout",
            Q["gradual"],
        ),
    )
    return Advice(
        Strategy.CANARY,
        plan,
        tuple(reasons),
        commands,
        stages,
        alternatives,
        _common(plan, _canary_notes(plan)),
    )


def _bluegreen(plan: PlanInput) -> Advice:
    reasons = (
        Reason(
            "a low-stakes configuration change: an instant full switch is acceptable because rollback "
            "is one command and just as instant",
            Q["bg_rollback"],
        ),
        Reason("the simplest strategy, and the rollback mechanism of the other two", Q["bg_simplest"]),
        Reason("the smoke test still runs against the standby slot before the switch", Q["smoke"]),
    )
    v = plan.version
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
        Stage("monitoring", MONITORING_S, _MONITORING_TEXT, to_full_traffic=False),
    )
    alternatives = (
        Alternative(
            Strategy.CANARY,
            "a ramp adds hours of checks for a low-stakes change; choose it when the change alters "
            "answers in ways a smoke test cannot catch",
            Q["gradual"],
        ),
        Alternative(
            Strategy.SHADOW,
            "it is for high stakes, new models, major retrains and base upgrades; this is none of them",
            Q["overkill"],
        ),
    )
    notes = ["two slots stay loaded until the version is stable: budget memory for both"]
    return Advice(
        Strategy.BLUEGREEN, plan, reasons, commands, stages, alternatives, _common(plan, notes, traffic=False)
    )


_MONITORING_TEXT = "checks every 5 min for the first hour, every 30 min for 24 h, daily for a week (MW1)"


def _common(plan: PlanInput, notes: list[str], *, traffic: bool = True) -> tuple[str, ...]:
    """Notes every plan shares: what was assumed and, where durations depend on it, missing traffic."""
    out = []
    if plan.stakes_assumed:
        out.append(
            "stakes not given: assumed medium (--stakes low|medium|high, or medical, legal, financial = high)"
        )
    if traffic and plan.traffic_per_day is None:
        out.append("traffic not given: durations that depend on it are not estimated (--traffic 5000/d)")
    return (*out, *notes)


# --------------------------------------------------------------------------- canary timing


def _stretched_steps(plan: PlanInput, spec: str | None = None) -> tuple[CanaryStep, ...]:
    return stretched_steps(
        parse_steps(spec or plan.canary_steps), plan.traffic_per_day, plan.canary_min_samples
    )


def _canary_notes(plan: PlanInput) -> list[str]:
    traffic = plan.traffic_per_day
    if not traffic:
        return []
    asked = parse_steps(plan.canary_steps)
    stretched = _stretched_steps(plan)
    if asked == stretched:
        return []
    first = asked[0]
    seen = traffic * first.percent / 100 * (first.duration_s or 0) / DAY_S
    notes = [
        f"at {_rate(traffic)} a {first.percent:g}% phase of {format_duration(first.duration_s or 0)} sends "
        f"the candidate about {seen:,.0f} of them, and a check needs {plan.canary_min_samples} per arm; a "
        f"phase that ends inconclusive rolls back (DF4), so the steps are lengthened to "
        f"{_steps_spec(stretched)}"
    ]
    if _ramp_seconds(stretched) > SLOW_RAMP_S:
        bigger = _stretched_steps(plan, BIGGER_STEPS)
        notes.append(
            f"with this little traffic the ramp takes {format_span(_ramp_seconds(stretched))}; bigger steps "
            f"(--steps {_steps_spec(bigger)}) take {format_span(_ramp_seconds(bigger))} at the cost of a "
            "larger blast radius while it is bad"
        )
    return notes


def _ramp_seconds(steps: tuple[CanaryStep, ...]) -> float:
    return sum(s.duration_s or 0.0 for s in steps)


def _steps_spec(steps: tuple[CanaryStep, ...]) -> str:
    return ",".join(str(s) for s in steps)


def _steps_text(steps: tuple[CanaryStep, ...], plan: PlanInput) -> str:
    parts = []
    for step in steps:
        if step.duration_s is None:
            parts.append(f"then {step.percent:g} %")
            continue
        text = f"{step.percent:g} % for {format_duration(step.duration_s)}"
        if plan.traffic_per_day:
            seen = plan.traffic_per_day * step.percent / 100 * step.duration_s / DAY_S
            text += f" (~{seen:,.0f} candidate requests)"
        parts.append(text)
    return ", ".join(parts) + f"; checks every {DEFAULT_INTERVAL}"


def _rate(per_day: float) -> str:
    return f"{per_day:,.0f} requests/day"


def format_span(seconds: float | None) -> str:
    """A duration for people: '45 min', '9.6 h', '12.0 days' ('unknown' for None)."""
    if seconds is None:
        return "unknown"
    if seconds < 3600:
        return f"{max(seconds / 60, 1):.0f} min"
    if seconds < 2 * DAY_S:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY_S:.1f} days"


__all__ = [
    "HIGH_STAKES_DOMAINS",
    "Advice",
    "Alternative",
    "Change",
    "Command",
    "Detection",
    "PlanInput",
    "Reason",
    "SeedQuote",
    "Stage",
    "Stakes",
    "VersionFacts",
    "advise",
    "detect_change",
    "format_span",
    "parse_stakes",
    "parse_traffic",
]
