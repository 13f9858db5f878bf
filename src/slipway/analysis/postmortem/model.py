"""What a postmortem is made from (`Facts`) and what it says (`Postmortem`): plain records, JSON-ready."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.analysis.blast import BlastRadius
from slipway.analysis.postmortem.mix import MixChange
from slipway.analysis.postmortem.patterns import Finding
from slipway.analysis.postmortem.scoring import CategoryScore, Scored
from slipway.analysis.shadow.features import Asked
from slipway.core.lifecycle import RequestInput
from slipway.core.postmortem import LabelledAnswer, ServedCounts


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

    #: Ends a sentence: "since v2.2's evaluation", "compared with production before the rollout".
    since: str
    categories: Mapping[str, int]
    inputs: Sequence[Asked] = ()


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
    live_inputs: Sequence[Asked] = ()
    #: `answers` already judged (`scoring.score`), when the caller had to judge them to pick inputs.
    scored: Sequence[Scored] | None = None


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
    #: Wrong answers whose stored input was read (all of them, or an even sample).
    wrong_inputs_read: int
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
                "wrong_inputs_read": self.wrong_inputs_read,
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
