"""How an answer is compared with a ground-truth label: one rule for smoke tests and canary accuracy.

A label is a short word (`billing`, `refund-request`). An answer matches it
when its first word, lowercased and stripped of surrounding punctuation,
equals the label normalized the same way: 'Billing.', '**billing**' and
' billing\\n' all say `billing`. An answer that is a JSON object with a string
`label` field is judged by that field instead, so structured classifiers
score the same way as plain-text ones.

Pure and tiny on purpose: `evals` (smoke tests) and `analysis` (canary
accuracy per category) both import it, and neither may import the other.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_WORD = re.compile(r"[^\W_]+(?:[-_][^\W_]+)*")


def normalize_label(text: str) -> str:
    """The first word, lowercased, without surrounding punctuation: 'Billing.' and '**billing**' agree."""
    found = _WORD.search(text.lower())
    return found.group(0) if found else ""


def answer_label(answer: str, parsed: Any = None) -> str:
    """The label an answer gives: its JSON `label` field if it is such an object, else its first word.

    `parsed` is the answer already decoded as JSON, when the caller has it.
    """
    if parsed is None and answer.lstrip().startswith("{"):
        try:
            parsed = json.loads(answer)
        except json.JSONDecodeError:
            parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("label"), str):
        return normalize_label(parsed["label"])
    return normalize_label(answer)


def matches_label(answer: str, label: str) -> bool:
    """Does the answer give this ground-truth label? An empty label matches nothing."""
    expected = _normalized_label(label)
    return bool(expected) and answer_label(answer) == expected


@functools.lru_cache(maxsize=4096)
def _normalized_label(label: str) -> str:
    # Labels repeat (a few categories, scored thousands of times per check).
    return normalize_label(label)
