"""A sample of pairs for human review ("a sample exported for human review"), as JSONL or CSV.

A uniform sample of a few hundred pairs is mostly pairs where both answers
agree — nothing for a reviewer to decide — and can miss a small category
altogether. So the sample is stratified:

* strata are (category, kind), kind one of regression, improvement,
  disagree (same outcome, different answers) and agree;
* every category gets at least one row (its most telling pair kind first);
* the other rows are shared out in proportion to stratum size × `WEIGHTS`,
  so regressions are 8× and disagreements 2× as likely to be shown as
  agreeing pairs, and drawn uniformly (seeded) within each stratum;
* each row carries its design `weight` (stratum size ÷ rows drawn from it):
  a reviewer's verdicts, weighted by it, estimate rates for all pairs.

Rows are plain dicts with the reviewer's two columns left empty.
"""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slipway.analysis.shadow.compare import Outcome, PairOutcome
from slipway.core.shadow import ShadowPair

WEIGHTS: Mapping[str, float] = {"regression": 8.0, "improvement": 8.0, "disagree": 2.0, "agree": 1.0}
KINDS = tuple(WEIGHTS)
COLUMNS = (
    "pair_id",
    "category",
    "stratum",
    "weight",
    "input",
    "production_answer",
    "candidate_answer",
    "label",
    "production_format",
    "candidate_format",
    "production_correct",
    "candidate_correct",
    "automatic_verdict",
    "reason",
    "agreement",
    "judge_score",
    "reviewer_choice",
    "reviewer_notes",
)
#: Spreadsheets run a cell starting with these as a formula; CSV cells that do get a leading quote.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def kind_of(outcome: PairOutcome) -> str:
    if outcome.outcome is Outcome.REGRESSION:
        return "regression"
    if outcome.outcome is Outcome.IMPROVEMENT:
        return "improvement"
    return "agree" if outcome.agree else "disagree"


def _allocate(sizes: Mapping[tuple[str, str], int], n: int) -> dict[tuple[str, str], int]:
    """Rows per stratum: one per category first, the rest by size × weight (largest remainder)."""
    take = dict.fromkeys(sizes, 0)
    categories = sorted({c for c, _ in sizes}, key=lambda c: -sum(v for (x, _), v in sizes.items() if x == c))
    for category in categories:
        if sum(take.values()) >= n:
            break
        first = next(k for k in KINDS if sizes.get((category, k), 0) > 0)
        take[(category, first)] = 1
    while sum(take.values()) < min(n, sum(sizes.values())):
        room = {s: sizes[s] - take[s] for s in sizes if sizes[s] > take[s]}
        left = n - sum(take.values())
        mass = sum(room[s] * WEIGHTS[s[1]] for s in room)
        shares = {s: left * room[s] * WEIGHTS[s[1]] / mass for s in room}
        whole = {s: min(int(shares[s]), room[s]) for s in room}
        if sum(whole.values()) == 0:
            best = max(room, key=lambda s: (shares[s], s))
            whole[best] = 1
        for s, k in whole.items():
            take[s] += k
    return take


def _row(pair: ShadowPair, outcome: PairOutcome, stratum: str, weight: float) -> dict[str, Any]:
    def correct(value: bool | None) -> str:
        return "" if value is None else ("yes" if value else "no")

    score = None if outcome.preference is None else outcome.preference.score
    return {
        "pair_id": pair.pair_id,
        "category": outcome.category,
        "stratum": stratum,
        "weight": round(weight, 4),
        "input": pair.input_text,
        "production_answer": pair.production.text if pair.production.ok else f"[{pair.production.error}]",
        "candidate_answer": pair.candidate.text if pair.candidate.ok else f"[{pair.candidate.error}]",
        "label": pair.label or "",
        "production_format": outcome.production.format.summary(),
        "candidate_format": outcome.candidate.format.summary(),
        "production_correct": correct(outcome.production.correct),
        "candidate_correct": correct(outcome.candidate.correct),
        "automatic_verdict": outcome.outcome.value,
        "reason": outcome.reason,
        "agreement": {k: round(v, 3) for k, v in outcome.agreement.items()},
        "judge_score": score,
        "reviewer_choice": "",
        "reviewer_notes": "",
    }


def sample_for_review(
    pairs: Sequence[ShadowPair], outcomes: Sequence[PairOutcome], n: int, seed: int
) -> list[dict[str, Any]]:
    """At most `n` rows, stratified by category and disagreement; the same seed gives the same rows."""
    if len(pairs) != len(outcomes):
        raise ValueError("sample_for_review needs one outcome per pair, in the same order")
    strata: dict[tuple[str, str], list[int]] = {}
    for i, outcome in enumerate(outcomes):
        strata.setdefault((outcome.category, kind_of(outcome)), []).append(i)
    if n <= 0 or not strata:
        return []
    take = _allocate({s: len(ix) for s, ix in strata.items()}, n)
    rng = random.Random(seed)
    rows: list[tuple[int, dict[str, Any]]] = []
    for stratum in sorted(strata):
        k = take[stratum]
        if k == 0:
            continue
        members = strata[stratum]
        for i in rng.sample(members, k):
            rows.append((i, _row(pairs[i], outcomes[i], stratum[1], len(members) / k)))
    rows.sort(key=lambda r: r[0])
    return [row for _, row in rows]


def to_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(dict(row), ensure_ascii=False) + "\n" for row in rows)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if isinstance(value, str) and text.startswith(_FORMULA_START) else text


def to_csv(rows: Iterable[Mapping[str, Any]]) -> str:
    """One row per pair with `COLUMNS`; text that a spreadsheet would run as a formula is quoted."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in COLUMNS])
    return out.getvalue()
