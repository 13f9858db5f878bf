"""The postmortem in sentences: the headline, the suspected cause, what to change, when to retry.

Each sentence carries its evidence (counts, rates, the test's p-value) and,
where there is one, the command that acts on it, because the reader is an
on-call engineer deciding what to do next, not a statistician.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence

from slipway.analysis.postmortem.mix import MixChange
from slipway.analysis.postmortem.model import Advice, Evaluation, Rollout
from slipway.analysis.postmortem.patterns import Finding
from slipway.analysis.postmortem.scoring import CategoryScore, Scored
from slipway.core.postmortem import ServedCounts


def pattern_phrase(patterns: Sequence[Finding]) -> str:
    return f", mostly on {patterns[0].pattern}" if patterns else ""


def headline(
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
    # Categories here are compared with the candidate's own other answers; a canary compares each
    # with production's, so it can roll back a category that is not worse than the candidate's rest.
    # Then the rollback's own reason is what the reader needs first.
    why = f" (rolled back for: {_clip(r.reason)})" if r.reason and not parts else ""
    what = (
        f"failed {', '.join(parts)}"
        if parts
        else f"got {wrong} of {labelled} labelled answers wrong, no category worse than the rest{why}"
    )
    return (
        f"{r.version} {what}{pattern_phrase(patterns)}; {wrong} wrong answers to add as regression cases: "
        f"slipway regressions add --from {r.deployment_id}"
    )


def cause(
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
    if not failing:
        rate = wrong / len(scored) if scored else 0.0
        said.append(
            f"{r.version} got {wrong} of {len(scored)} labelled answers wrong ({rate:.0%}), "
            "and no category's share of them is significantly above the rest"
        )
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
                    f"{'no' if n == 0 else n} case{'s' if n != 1 else ''} of {p.pattern}"
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
    if spread(failing, patterns, categories):
        said.append(
            "the wrong answers are spread over the categories and inputs alike: "
            "this looks like the training run, not one kind of data"
        )
    return said


def spread(failing: Sequence[str], patterns: Sequence[Finding], categories: Sequence[CategoryScore]) -> bool:
    """Wrong answers in two or more categories, with no category or input pattern standing out."""
    return not failing and not patterns and sum(1 for c in categories if c.wrong) >= 2


def advice(
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
    where = ", ".join(failing) or "every category with wrong answers"
    out = []
    if evaluation is not None and failing:
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
    if spread(failing, patterns, categories):
        out.append(
            Advice(
                "training",
                "failures spread over every category point at the training run: "
                "compare its settings with the last good version's",
            )
        )
    return out


def retry_words(r: Rollout) -> str:
    if r.retry_at is None:
        return "no retry date set: set one with the fixes applied"
    when = datetime.datetime.fromtimestamp(r.retry_at, tz=datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"retry planned for {when}"


#: A rollback's reason quoted in the headline is cut to this many characters (the cause has it whole).
REASON_CHARS = 160


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1].rstrip() + "…"
