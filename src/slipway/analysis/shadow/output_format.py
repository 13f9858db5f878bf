"""The shape of an answer: JSON, a label, a list, code, prose or nothing.

Grouping pairs by the format the request expects answers "does the candidate
break on requests that want JSON / a label / a list?" — a format regression
hides in an average because most traffic is prose. The expected format is
that of an answer that *passed*: production's (what users get today), or the
candidate's where only the candidate passed. Taking production's answer
always would bias the groups: a pair lands in "JSON object" only when
production managed JSON, so that group would hold production's successes and
show the candidate worse even when both behave identically. Taken from the
passing side, an identical candidate's regressions and improvements land in
the same groups equally often.
"""

from __future__ import annotations

import json
import re

from slipway.analysis.shadow.features import looks_like_code
from slipway.core.shadow import ShadowAnswer

JSON_OBJECT = "JSON object"
JSON_ARRAY = "JSON array"
LABEL = "label (one word)"
LIST = "list"
CODE = "code"
PROSE = "prose"
EMPTY = "empty"
#: Neither answer passed, so neither shows the expected format.
UNKNOWN = "unknown (both failed)"

FORMATS = (JSON_OBJECT, JSON_ARRAY, LABEL, LIST, CODE, PROSE, EMPTY, UNKNOWN)

_FENCED = re.compile(r"^```[\w+-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)
_ONE_WORD = re.compile(r"^\W*[^\W_]+(?:[-_][^\W_]+)*\W*$")
_ITEM = re.compile(r"^\s*(?:[-*•+]|\d{1,3}[.)])\s+\S")


def _json_kind(text: str) -> str | None:
    if not text or text[0] not in "{[":
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict):
        return JSON_OBJECT
    return JSON_ARRAY if isinstance(value, list) else None


def text_format(text: str) -> str:
    """The format of one answer's text (a fenced JSON document counts as JSON)."""
    stripped = text.strip()
    if not stripped:
        return EMPTY
    fenced = _FENCED.match(stripped)
    kind = _json_kind(fenced.group(1).strip() if fenced else stripped)
    if kind is not None:
        return kind
    if _ONE_WORD.match(stripped):
        return LABEL
    lines = [line for line in stripped.splitlines() if line.strip()]
    items = sum(1 for line in lines if _ITEM.match(line))
    if items >= 2 and items * 2 >= len(lines):
        return LIST
    if looks_like_code(stripped):
        return CODE
    return PROSE


def expected_format(
    production: ShadowAnswer, candidate: ShadowAnswer, *, production_passed: bool, candidate_passed: bool
) -> str:
    """The format of the passing answer, production's first: the one the request is taken to expect."""
    if production_passed:
        return text_format(production.text)
    return text_format(candidate.text) if candidate_passed else UNKNOWN
