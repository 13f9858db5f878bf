"""The post-rollback analysis: what failed, why evaluation missed it, what to change, when to retry.

The article's four questions, answered from the records a rollout leaves:
the candidate's traffic (blast radius), its labelled answers judged by the
canary's correctness rule, the timeline of checks and route changes, the
stored inputs of its wrong answers (and a sample of its right ones), the
evaluation it passed, and the input mix it was evaluated on. Pure: the
composition root reads the store and hands everything over as `Facts`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.analysis.blast import BlastRadius, blast_radius
from slipway.analysis.postmortem.mix import MixChange, mix_changes, profile
from slipway.analysis.postmortem.patterns import Finding, Observation, distinguish
from slipway.analysis.postmortem.scoring import CategoryScore, Scored, by_category, score
from slipway.analysis.samples import ArmSample
from slipway.analysis.shadow.features import INPUT_DIMENSIONS, HasInput, input_features
from slipway.core.lifecycle import RequestInput
from slipway.core.postmortem import LabelledAnswer, ServedCounts

#: Wrong answers listed as examples per group.
EXAMPLES_PER_GROUP = 3
#: Characters of an input shown in an example.
EXCERPT_CHARS = 160


@dataclass(frozen=True, slots=True)
class Rollout:
    """The deployment being examined."""

    deployment_id: str
    version: str
    slot: str
    strategy: str
    status: str
    actor: str
    started_at: float
    ended_at: float
    #: Why it ended (the rollback's reason), when known.
    reason: str = ""
    #: The version production went back to, when known.
    baseline: str | None = None
    #: When the operator means to retry (wall-clock seconds), if set.
    retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    at: float
    kind: str
    actor: str
    text: str


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The latest evaluation run of the version, with the categories of the suite's cases."""

    suite: str
    suite_version: int
    passed: bool
    at: float
    cases_per_category: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Reference:
    """The input mix the version was judged on: suite cases or production's traffic before the rollout."""

    #: Ends a sentence: "since v2.2's evaluation", "than before the rollout".
    since: str
    categories: Mapping[str, int]
    inputs: Sequence[HasInput] = ()


@dataclass(frozen=True, slots=True)
class Facts:
    rollout: Rollout
    served: ServedCounts
    #: Requests per category of every slot over the same window (the candidate's included).
    everyone: Mapping[str, int]
    answers: Sequence[LabelledAnswer]
    #: Stored inputs of the wrong answers and of a sample of the right ones, by request id.
    inputs: Mapping[str, RequestInput]
    timeline: Sequence[TimelineEntry] = ()
    evaluation: Evaluation | None = None
    reference: Reference | None = None
    #: Inputs of a sample of everything the candidate served (its live mix).
    live_inputs: Sequence[HasInput] = ()


@dataclass(frozen=True, slots=True)
class Example:
    request_id: str
    category: str
    answered: str
    label: str
    input_excerpt: str | None


@dataclass(frozen=True, slots=True)
class Group:
    dimension: str
    value: str
    wrong: int
    examples: tuple[Example, ...] = ()


@dataclass(frozen=True, slots=True)
class Advice:
    #: data, training or evaluation: the article's three kinds of change.
    kind: str
    text: str
    command: str | None = None


@dataclass(frozen=True, slots=True)
class Postmortem:
    rollout: Rollout
    headline: str
    blast: BlastRadius
    served: ServedCounts
    categories: tuple[CategoryScore, ...]
    labelled: int
    wrong: int
    groups: tuple[Group, ...]
    inputs_read: int
    wrong_without_input: int
    findings: tuple[Finding, ...]
    mix: tuple[MixChange, ...]
    mix_reference: str | None
    timeline: tuple[TimelineEntry, ...]
    evaluation: Evaluation | None
    cause: tuple[str, ...]
    advice: tuple[Advice, ...]
    retry: str
    open_command: str = ""
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        r = self.rollout
        return {
            "deployment_id": r.deployment_id,
            "headline": self.headline,
            "open": self.open_command,
            "rollout": {
                "version": r.version,
                "slot": r.slot,
                "strategy": r.strategy,
                "status": r.status,
                "actor": r.actor,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "reason": r.reason,
                "baseline": r.baseline,
                "retry_at": r.retry_at,
            },
            "blast_radius": {
                "requests": self.served.requests,
                "errors": self.served.errors,
                "sticky_keys": self.served.sticky_keys,
                "first_at": self.served.first_at,
                "last_at": self.served.last_at,
                "share": self.blast.share,
                "total_requests": self.blast.total_requests,
                "summary": self.blast.summary(),
                "categories": [
                    {
                        "category": c.category,
                        "requests": c.candidate_requests,
                        "errors": self.served.per_category.get(c.category, (0, 0))[1],
                        "total_requests": c.total_requests,
                        "share": c.share,
                    }
                    for c in self.blast.per_category
                ],
            },
            "answers": {
                "labelled": self.labelled,
                "wrong": self.wrong,
                "inputs_read": self.inputs_read,
                "wrong_without_input": self.wrong_without_input,
                "categories": [
                    {
                        "category": c.category,
                        "labelled": c.labelled,
                        "wrong": c.wrong,
                        "wrong_rate": c.wrong_rate,
                    }
                    for c in self.categories
                ],
                "groups": [
                    {
                        "dimension": g.dimension,
                        "value": g.value,
                        "wrong": g.wrong,
                        "examples": [
                            {
                                "request_id": e.request_id,
                                "category": e.category,
                                "answered": e.answered,
                                "label": e.label,
                                "input": e.input_excerpt,
                            }
                            for e in g.examples
                        ],
                    }
                    for g in self.groups
                ],
            },
            "findings": [
                {
                    "dimension": f.dimension,
                    "value": f.value,
                    "wrong": f.wrong,
                    "answers": f.answers,
                    "rate": f.rate,
                    "rest_rate": f.rest_rate,
                    "p_value": f.p_value,
                    "significant": f.significant,
                    "words": f.words(),
                }
                for f in self.findings
            ],
            "mix": {"reference": self.mix_reference, "dimensions": [m.to_dict() for m in self.mix]},
            "timeline": [
                {"at": t.at, "kind": t.kind, "actor": t.actor, "text": t.text} for t in self.timeline
            ],
            "evaluation": None
            if self.evaluation is None
            else {
                "suite": self.evaluation.suite,
                "suite_version": self.evaluation.suite_version,
                "passed": self.evaluation.passed,
                "at": self.evaluation.at,
                "cases_per_category": dict(self.evaluation.cases_per_category),
            },
            "cause": list(self.cause),
            "advice": [{"kind": a.kind, "text": a.text, "command": a.command} for a in self.advice],
            "retry": self.retry,
            "notes": list(self.notes),
        }


def build_postmortem(facts: Facts) -> Postmortem:
    r = facts.rollout
    scored = score(facts.answers)
    wrong = [s for s in scored if not s.correct]
    categories = tuple(by_category(scored))
    # The input dimensions scan each text with regular expressions: once per input, not per use.
    features = {rid: input_features(item) for rid, item in facts.inputs.items()}
    findings = tuple(_findings(scored, features))
    significant = [f for f in findings if f.significant]
    failing_categories = [f.value for f in significant if f.dimension == "category"]
    if not failing_categories:
        failing_categories = [c.category for c in categories if c.wrong][:3]
    patterns = [f for f in significant if f.dimension != "category"]
    blast = _blast(r, facts.served, facts.everyone, set(failing_categories))
    mix: tuple[MixChange, ...] = ()
    ref: dict[str, dict[str, int]] | None = None
    if facts.reference is not None:
        live = profile(_categories(facts.served), facts.live_inputs, features)
        ref = profile(facts.reference.categories, facts.reference.inputs)
        if not facts.reference.inputs or not facts.live_inputs:
            for d in INPUT_DIMENSIONS:
                ref.pop(d.name, None)
                live.pop(d.name, None)
        mix = tuple(mix_changes(ref, live, facts.reference.since))
    without_input = sum(1 for s in wrong if s.answer.request_id not in facts.inputs)
    open_command = f"slipway postmortem {r.deployment_id}"
    evaluated = facts.evaluation is not None and facts.reference is not None and bool(facts.reference.inputs)
    cause = tuple(
        _cause(
            r,
            categories,
            failing_categories,
            patterns,
            mix,
            facts.evaluation,
            len(wrong),
            scored,
            ref if evaluated else None,
        )
    )
    advice = tuple(_advice(r, failing_categories, patterns, mix, facts.evaluation, len(wrong), categories))
    return Postmortem(
        rollout=r,
        headline=_headline(
            r, categories, failing_categories, patterns, len(wrong), len(scored), facts.served
        ),
        blast=blast,
        served=facts.served,
        categories=categories,
        labelled=len(scored),
        wrong=len(wrong),
        groups=tuple(_groups(wrong, facts.inputs, features)),
        inputs_read=len(facts.inputs),
        wrong_without_input=without_input,
        findings=findings,
        mix=mix,
        mix_reference=facts.reference.since if facts.reference else None,
        timeline=tuple(sorted(facts.timeline, key=lambda t: t.at)),
        evaluation=facts.evaluation,
        cause=cause,
        advice=advice,
        retry=_retry(r),
        open_command=open_command,
    )


def _categories(served: ServedCounts) -> dict[str, int]:
    return {c: n for c, (n, _e) in served.per_category.items()}


def _blast(r: Rollout, served: ServedCounts, everyone: Mapping[str, int], failing: set[str]) -> BlastRadius:
    since = served.first_at if served.first_at is not None else r.started_at
    until = served.last_at if served.last_at is not None else r.ended_at
    candidate = ArmSample(
        slot=r.slot,
        requests=served.requests,
        errors=min(served.errors, served.requests),
        category_requests=_categories(served),
        since=since,
        until=until,
    )
    total = sum(everyone.values())
    pooled = ArmSample(
        slot="(all)", requests=total, errors=0, category_requests=dict(everyone), since=since, until=until
    )
    blast = blast_radius(candidate, pooled)
    marked = tuple(
        c.__class__(
            category=c.category,
            candidate_requests=c.candidate_requests,
            total_requests=c.total_requests,
            share=c.share,
            failing=c.category in failing,
        )
        for c in blast.per_category
    )
    return BlastRadius(
        blast.candidate_requests, blast.total_requests, blast.share, marked, blast.since, blast.until
    )


def _observation(s: Scored, features: Mapping[str, Mapping[str, str]]) -> Observation:
    values = {"category": s.answer.category, **features.get(s.answer.request_id, {})}
    return Observation(wrong=not s.correct, values=values)


def _findings(scored: Sequence[Scored], features: Mapping[str, Mapping[str, str]]) -> list[Finding]:
    wrong = [s for s in scored if not s.correct]
    right = [s for s in scored if s.correct]
    wrong_read = sum(1 for s in wrong if s.answer.request_id in features)
    right_read = sum(1 for s in right if s.answer.request_id in features)
    fraction = (wrong_read / len(wrong) if wrong else 1.0, right_read / len(right) if right else 1.0)
    sampled = {d.name: fraction for d in INPUT_DIMENSIONS}
    return distinguish([_observation(s, features) for s in scored], sampled=sampled)


def _groups(
    wrong: Sequence[Scored], inputs: Mapping[str, RequestInput], features: Mapping[str, Mapping[str, str]]
) -> list[Group]:
    """Wrong answers grouped by category, then by each input dimension's value, largest first
    (input patterns over the wrong answers whose inputs were read)."""
    buckets: dict[tuple[str, str], list[Scored]] = {}
    for s in wrong:
        buckets.setdefault(("category", s.answer.category), []).append(s)
        for name, value in features.get(s.answer.request_id, {}).items():
            buckets.setdefault((name, value), []).append(s)
    order = ["category", *(d.name for d in INPUT_DIMENSIONS)]
    with_input = sum(1 for s in wrong if s.answer.request_id in features)
    out = []
    for (dim, value), members in buckets.items():
        if dim != "category" and len(members) == with_input:
            continue  # every wrong answer has this value: it groups nothing apart
        examples = tuple(_example(s, inputs) for s in members[:EXAMPLES_PER_GROUP])
        out.append(Group(dim, value, len(members), examples))
    out.sort(key=lambda g: (order.index(g.dimension), -g.wrong, g.value))
    return out


def _example(s: Scored, inputs: Mapping[str, RequestInput]) -> Example:
    found = inputs.get(s.answer.request_id)
    excerpt = None if found is None else found.input_text[:EXCERPT_CHARS]
    return Example(
        s.answer.request_id, s.answer.category, s.given or s.answer.answer[:40], s.answer.label, excerpt
    )


def _pattern_phrase(patterns: Sequence[Finding]) -> str:
    return f", mostly on {patterns[0].pattern}" if patterns else ""


def _headline(
    r: Rollout,
    categories: Sequence[CategoryScore],
    failing: Sequence[str],
    patterns: Sequence[Finding],
    wrong: int,
    labelled: int,
    served: ServedCounts,
) -> str:
    if wrong == 0:
        errors = f", {served.errors} errors" if served.errors else ""
        return (
            f"{r.version} ({r.strategy}) was {r.status.replace('_', ' ')} "
            f"after {served.requests} requests{errors}; "
            f"none of its {labelled} labelled answers was wrong"
        )
    per = {c.category: c for c in categories}
    parts = [f"{c} ({per[c].wrong} of {per[c].labelled} wrong)" for c in failing if c in per]
    return (
        f"{r.version} failed {', '.join(parts) or 'its labelled answers'}{_pattern_phrase(patterns)}; "
        f"{wrong} wrong answers to add as regression cases: slipway regressions add --from {r.deployment_id}"
    )


def _cause(
    r: Rollout,
    categories: Sequence[CategoryScore],
    failing: Sequence[str],
    patterns: Sequence[Finding],
    mix: Sequence[MixChange],
    evaluation: Evaluation | None,
    wrong: int,
    scored: Sequence[Scored],
    reference_counts: Mapping[str, Mapping[str, int]] | None,
) -> list[str]:
    if wrong == 0:
        return [
            f"no labelled answer of {r.version} was wrong; "
            f"the rollback's reason: {r.reason or 'not recorded'}"
        ]
    per = {c.category: c for c in categories}
    said = []
    for name in failing:
        c = per.get(name)
        if c is None:
            continue
        rest_n = sum(x.labelled for x in categories if x.category != name)
        rest_w = sum(x.wrong for x in categories if x.category != name)
        rest = f", against {rest_w / rest_n:.0%} in the other categories" if rest_n else ""
        said.append(
            f"{r.version} answered {name} wrong: {c.wrong} of {c.labelled} labelled answers "
            f"({c.wrong_rate:.0%}){rest}"
        )
    for p in patterns[:3]:
        said.append(f"the failing inputs stand out: {p.words()}")
    if evaluation is not None:
        for p in patterns[:3]:
            had = reference_counts.get(p.dimension, {}).get(p.value) if reference_counts else None
            if had is not None or reference_counts:
                n = had or 0
                said.append(
                    f"evaluation missed it: suite {evaluation.suite} v{evaluation.suite_version} had "
                    f"{'no' if n == 0 else n} {p.pattern if n != 1 else p.pattern.rstrip('s')}"
                )
        for name in failing:
            had = evaluation.cases_per_category.get(name, 0)
            cases = "no case" if had == 0 else f"{had} case{'s' if had != 1 else ''}"
            said.append(
                f"evaluation missed it: suite {evaluation.suite} v{evaluation.suite_version} had {cases} "
                f"in {name} and {'passed' if evaluation.passed else 'failed'}"
            )
    else:
        said.append(
            f"no evaluation run is recorded for {r.version}: production was the first test of these inputs"
        )
    for m in mix:
        said.extend(m.sentences)
    if not patterns and len(failing) >= max(2, len(categories)) and len(scored) >= 20:
        said.append(
            "the wrong answers are spread over every category: "
            "this looks like the training run, not one kind of data"
        )
    return said


def _advice(
    r: Rollout,
    failing: Sequence[str],
    patterns: Sequence[Finding],
    mix: Sequence[MixChange],
    evaluation: Evaluation | None,
    wrong: int,
    categories: Sequence[CategoryScore],
) -> list[Advice]:
    if wrong == 0:
        return []
    add = f"slipway regressions add --from {r.deployment_id}"
    export = f"slipway regressions export --from {r.deployment_id} --format jsonl"
    where = ", ".join(failing) or "the failing categories"
    out = []
    if evaluation is not None:
        had = sum(evaluation.cases_per_category.get(c, 0) for c in failing)
        out.append(
            Advice(
                "evaluation",
                f"the evaluation suite had {had} {where} case{'s' if had != 1 else ''}; "
                f"add these {wrong} failing ones",
                add,
            )
        )
    else:
        out.append(
            Advice("evaluation", f"add these {wrong} failing answers as must-pass regression cases", add)
        )
    pattern = f", above all {patterns[0].pattern}" if patterns else ""
    moved = any(m.drift.drifted for m in mix)
    data = f"add training examples of {where}{pattern}"
    if moved:
        data += ", in the proportions production now sends"
    out.append(Advice("data", data + "; the failing answers with their right labels are a start", export))
    if not patterns and len(failing) >= max(2, len(categories)):
        out.append(
            Advice(
                "training",
                "failures in every category point at the training run: "
                "compare its settings with the last good version's",
            )
        )
    return out


def _retry(r: Rollout) -> str:
    if r.retry_at is None:
        return "no retry date set: set one with the fixes applied"
    when = datetime.datetime.fromtimestamp(r.retry_at, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"retry planned for {when}"
