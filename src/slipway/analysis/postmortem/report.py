"""The post-rollback analysis: what failed, why evaluation missed it, what to change, when to retry.

The article's four questions, answered from the records a rollout leaves:
the candidate's traffic (blast radius), its labelled answers judged by the
canary's correctness rule, the timeline of checks and route changes, the
stored inputs of its wrong answers (and a sample of its right ones), the
evaluation it passed, and the input mix it was evaluated on. Pure: the
composition root reads the store and hands everything over as `Facts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slipway.analysis.blast import BlastRadius, blast_radius
from slipway.analysis.postmortem import words
from slipway.analysis.postmortem.mix import MixChange, mix_changes, profile
from slipway.analysis.postmortem.model import Example, Facts, Group, Postmortem, Rollout
from slipway.analysis.postmortem.patterns import Finding, Observation, distinguish
from slipway.analysis.postmortem.scoring import Scored, by_category, score
from slipway.analysis.samples import ArmSample
from slipway.analysis.shadow.features import INPUT_DIMENSIONS, input_features
from slipway.core.lifecycle import RequestInput
from slipway.core.postmortem import ServedCounts

#: Wrong answers listed as examples per group.
EXAMPLES_PER_GROUP = 3
#: Characters of an input shown in an example.
EXCERPT_CHARS = 160


def build_postmortem(facts: Facts) -> Postmortem:
    r = facts.rollout
    scored = list(facts.scored) if facts.scored is not None else score(facts.answers)
    wrong = [s for s in scored if not s.correct]
    categories = tuple(by_category(scored))
    # The input dimensions scan each text with regular expressions: once per input, not per use.
    features = {rid: input_features(item) for rid, item in facts.inputs.items()}
    findings = tuple(_findings(scored, features))
    significant = [f for f in findings if f.significant]
    # Only what a test supports is named as failing; without it, the wrong answers are "spread".
    failing_categories = [f.value for f in significant if f.dimension == "category"]
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
    wrong_read = sum(1 for s in wrong if s.answer.request_id in facts.inputs)
    right_read = len(facts.inputs) - wrong_read
    notes = []
    if wrong_read < len(wrong):
        notes.append(
            f"input patterns are judged on the stored inputs of {wrong_read} of the {len(wrong)} wrong "
            f"answers and {right_read} right ones (an even sample over the run; counts scaled to the whole)"
        )
    open_command = f"slipway postmortem {r.deployment_id}"
    evaluated = facts.evaluation is not None and facts.reference is not None and bool(facts.reference.inputs)
    cause = tuple(
        words.cause(
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
    advice = tuple(
        words.advice(r, failing_categories, patterns, mix, facts.evaluation, len(wrong), categories)
    )
    return Postmortem(
        rollout=r,
        headline=words.headline(
            r, categories, failing_categories, patterns, len(wrong), len(scored), facts.served
        ),
        blast=blast,
        served=facts.served,
        categories=categories,
        labelled=len(scored),
        wrong=len(wrong),
        groups=tuple(_groups(wrong, facts.inputs, features)),
        inputs_read=len(facts.inputs),
        wrong_inputs_read=wrong_read,
        findings=findings,
        mix=mix,
        mix_reference=facts.reference.since if facts.reference else None,
        timeline=tuple(sorted(facts.timeline, key=lambda t: t.at)),
        evaluation=facts.evaluation,
        cause=cause,
        advice=advice,
        retry=words.retry_words(r),
        open_command=open_command,
        notes=tuple(notes),
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
