"""How alike two answers are, from strict to lenient: exact, normalized, token F1, similarity.

Used two ways. Against a reference: a pair with a ground-truth label is
scored by `core.labels.matches_label` — the one rule canary accuracy uses, so
"correct" means the same thing in both reports. Between the two answers: how
far the candidate's answer moved from production's. Agreement is not
correctness, but where they agree there is nothing to review, so the review
export over-samples the pairs that disagree.

All scores are in [0, 1]. They run on every pair of every report (5,000
pairs in well under a second), so `similarity` compares word sequences
(difflib on words, not characters): as telling for answers, and two orders
of magnitude faster on long ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from difflib import SequenceMatcher

from slipway.core.labels import matches_label

Scorer = Callable[[str, str], float]

#: Two answers agree when any configured scorer rates them at least this.
AGREE_AT = 0.8
SIMILARITY_WORDS = 2_000

_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Lowercased words without punctuation: what `normalized` and `token_f1` compare."""
    return _WORDS.findall(text.casefold())


def exact(a: str, b: str) -> float:
    """1 when the answers are the same text (surrounding whitespace aside)."""
    return 1.0 if a.strip() == b.strip() else 0.0


def normalized(a: str, b: str) -> float:
    """1 when the answers have the same words in the same order, ignoring case, spacing and punctuation."""
    return 1.0 if tokens(a) == tokens(b) else 0.0


def token_f1(a: str, b: str) -> float:
    """Harmonic mean of word precision and recall (SQuAD's F1): word overlap, order ignored."""
    ta, tb = tokens(a), tokens(b)
    if not ta or not tb:
        return 1.0 if ta == tb else 0.0
    common = sum((Counter(ta) & Counter(tb)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(ta), common / len(tb)
    return 2 * precision * recall / (precision + recall)


def similarity(a: str, b: str) -> float:
    """Share of words in matching runs, in order (difflib's ratio on word sequences).

    Only the first `SIMILARITY_WORDS` words count: difflib is quadratic at
    worst, and one 30 KB answer must not cost a report seconds.
    """
    ta, tb = tokens(a)[:SIMILARITY_WORDS], tokens(b)[:SIMILARITY_WORDS]
    if ta == tb:
        return 1.0
    if not ta or not tb:
        return 0.0
    return SequenceMatcher(None, ta, tb).ratio()


SCORERS: Mapping[str, Scorer] = {
    "exact": exact,
    "normalized": normalized,
    "token_f1": token_f1,
    "similarity": similarity,
}


def agreement(candidate: str, production: str, names: Sequence[str]) -> dict[str, float]:
    """Each named text scorer's score of the two answers.

    `judge` is not a text scorer and is skipped; with no text scorer named,
    `normalized` stands in, so that agreement is always defined.
    """
    chosen = [name for name in names if name in SCORERS] or ["normalized"]
    return {name: SCORERS[name](candidate, production) for name in chosen}


def agrees(scores: Mapping[str, float]) -> bool:
    """Any scorer rating the answers at least `AGREE_AT`."""
    return any(v >= AGREE_AT for v in scores.values())


def correct(answer: str, label: str | None) -> bool | None:
    """Does the answer give the ground-truth label? None when there is no label to compare with."""
    return None if label is None or not label.strip() else matches_label(answer, label)
