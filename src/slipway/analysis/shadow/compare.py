"""One pair, judged: did each side pass, and is the pair a regression, an improvement or neither?

A side *passes* when it answered (no error), its answer is format-compliant,
and — where the pair has a ground-truth label — it is correct. One binary
outcome per side is what makes pairs comparable and countable: a candidate
that fixes the format but gets the label wrong has not passed, whichever of
the two production got wrong.

    regression   production passed, the candidate failed (format, correctness or an error)
    improvement  the candidate passed, production failed
    both pass / both fail

The reason says what the failing side did wrong, in the words of the check
that caught it, so an example pair in the report explains itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from slipway.analysis.shadow.output_format import expected_format
from slipway.analysis.shadow.paired import PairedCounts
from slipway.analysis.shadow.scorers import agreement, agrees, correct
from slipway.analysis.shadow.validators import FormatResult, FormatValidator
from slipway.core.labels import answer_label
from slipway.core.shadow import Preference, ShadowAnswer, ShadowPair
from slipway.core.shadow_config import ShadowChecksConfig, ShadowConfig

#: The category of pairs whose request carried none.
UNCATEGORIZED = "uncategorized"


class Outcome(StrEnum):
    BOTH_PASS = "both pass"
    REGRESSION = "regression"
    IMPROVEMENT = "improvement"
    BOTH_FAIL = "both fail"


@dataclass(frozen=True, slots=True)
class SideOutcome:
    """One answer of a pair, judged."""

    format: FormatResult
    #: None when the pair has no label (correctness unknown).
    correct: bool | None
    #: The label the answer gave, when the pair has one to compare it with.
    said: str | None = None

    @property
    def ok(self) -> bool:
        return not any(r.check == "error" for r in self.format.results)

    @property
    def passed(self) -> bool:
        return self.format.passed and self.correct is not False

    def failures(self, label: str | None) -> list[str]:
        """What this side did wrong: its failed checks, then a wrong label."""
        summary = self.format.summary()
        out = [] if summary == "pass" else [summary]
        if self.correct is False and self.ok:
            out.append(f"wrong label {self.said!r} (expected {label!r})")
        return out


@dataclass(frozen=True, slots=True)
class PairOutcome:
    pair_id: str
    category: str
    production: SideOutcome
    candidate: SideOutcome
    outcome: Outcome
    reason: str
    #: Text scorers' scores of the candidate's answer against production's.
    agreement: Mapping[str, float] = field(default_factory=dict)
    agree: bool = True
    preference: Preference | None = None
    #: The format of the passing answer (`output_format.expected_format`).
    expected_format: str = ""


def category_of(pair: ShadowPair) -> str:
    return pair.category if pair.category else UNCATEGORIZED


def judge_side(answer: ShadowAnswer, label: str | None, validator: FormatValidator) -> SideOutcome:
    """Format and correctness of one answer; a failed request is incorrect wherever there is a label."""
    fmt = validator(answer)
    is_correct = correct(answer.text, label)
    if is_correct is None or not answer.ok:
        return SideOutcome(fmt, None if is_correct is None else False)
    return SideOutcome(fmt, is_correct, answer_label(answer.text))


def classify(production: SideOutcome, candidate: SideOutcome) -> Outcome:
    if production.passed:
        return Outcome.BOTH_PASS if candidate.passed else Outcome.REGRESSION
    return Outcome.IMPROVEMENT if candidate.passed else Outcome.BOTH_FAIL


def _reason(outcome: Outcome, prod: SideOutcome, cand: SideOutcome, label: str | None) -> str:
    if outcome is Outcome.REGRESSION:
        return "candidate: " + "; ".join(cand.failures(label))
    if outcome is Outcome.IMPROVEMENT:
        return "production: " + "; ".join(prod.failures(label))
    if outcome is Outcome.BOTH_FAIL:
        return f"production: {'; '.join(prod.failures(label))} | candidate: {'; '.join(cand.failures(label))}"
    return ""


def compare_pair(
    pair: ShadowPair,
    validator: FormatValidator,
    scorers: Iterable[str] = ("normalized",),
    preference: Preference | None = None,
) -> PairOutcome:
    prod = judge_side(pair.production, pair.label, validator)
    cand = judge_side(pair.candidate, pair.label, validator)
    outcome = classify(prod, cand)
    scores = agreement(pair.candidate.text, pair.production.text, list(scorers))
    return PairOutcome(
        pair_id=pair.pair_id,
        category=category_of(pair),
        production=prod,
        candidate=cand,
        outcome=outcome,
        reason=_reason(outcome, prod, cand, pair.label),
        agreement=scores,
        agree=agrees(scores),
        preference=preference,
        expected_format=expected_format(
            pair.production, pair.candidate, production_passed=prod.passed, candidate_passed=cand.passed
        ),
    )


def compare_pairs(
    pairs: Iterable[ShadowPair],
    config: ShadowConfig,
    preferences: Mapping[str, Preference] | None = None,
) -> list[PairOutcome]:
    """Every pair judged with the config's checks and scorers, in the order given."""
    validator = FormatValidator(config.checks)
    prefs = preferences or {}
    return [compare_pair(p, validator, config.scorers, prefs.get(p.pair_id)) for p in pairs]


def paired_counts(outcomes: Iterable[Outcome]) -> PairedCounts:
    tally = {o: 0 for o in Outcome}
    for o in outcomes:
        tally[o] += 1
    return PairedCounts(
        tally[Outcome.BOTH_PASS],
        tally[Outcome.REGRESSION],
        tally[Outcome.IMPROVEMENT],
        tally[Outcome.BOTH_FAIL],
    )


def counts_by_category(
    pairs: Iterable[ShadowPair], checks: ShadowChecksConfig | None = None
) -> dict[str, PairedCounts]:
    """The paired table per category, format and correctness only (no scorers): cheap enough for a status."""
    validator = FormatValidator(checks or ShadowChecksConfig())
    by: dict[str, list[Outcome]] = {}
    for pair in pairs:
        prod = judge_side(pair.production, pair.label, validator)
        cand = judge_side(pair.candidate, pair.label, validator)
        by.setdefault(category_of(pair), []).append(classify(prod, cand))
    return {category: paired_counts(outcomes) for category, outcomes in by.items()}
