"""Which labelled answers were wrong: the canary's correctness rule, applied one answer at a time.

The canary check counts per category how many labelled, completed answers
match their label (`core.labels.matches_label` on the answer's head); a
postmortem needs the same judgment per request, so it can list the wrong
ones. An answer that never completed (an error, an abort) is not scored
here either: it shows in the blast radius as an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from slipway.core.labels import answer_label, matches_label
from slipway.core.postmortem import LabelledAnswer


@dataclass(frozen=True, slots=True)
class Scored:
    answer: LabelledAnswer
    correct: bool

    @property
    def given(self) -> str:
        """The label the answer gave, as the rule reads it ('' when it gave none)."""
        return answer_label(self.answer.answer)


def score(answers: Iterable[LabelledAnswer]) -> list[Scored]:
    """Every completed labelled answer, judged right or wrong."""
    return [Scored(a, matches_label(a.answer, a.label)) for a in answers if a.completed]


@dataclass(frozen=True, slots=True)
class CategoryScore:
    category: str
    labelled: int
    wrong: int

    @property
    def wrong_rate(self) -> float:
        return self.wrong / self.labelled if self.labelled else 0.0


def by_category(scored: Iterable[Scored]) -> list[CategoryScore]:
    """Labelled and wrong answers per category, most wrong answers first."""
    counts: dict[str, list[int]] = {}
    for s in scored:
        row = counts.setdefault(s.answer.category, [0, 0])
        row[0] += 1
        row[1] += not s.correct
    out = [CategoryScore(c, n, w) for c, (n, w) in counts.items()]
    out.sort(key=lambda c: (-c.wrong, -c.wrong_rate, c.category))
    return out


def wrong_per_category(scored: Iterable[Scored]) -> Mapping[str, int]:
    return {c.category: c.wrong for c in by_category(scored) if c.wrong}
