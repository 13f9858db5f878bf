"""Explainable input patterns: what kind of request a pair answered.

A regression report that says "the candidate fails on cluster 7" sends an
engineer off to reverse-engineer cluster 7. These features are the opposite:
each is a rule an operator can check by reading the input (how long is it,
which script is it written in, does it contain code, JSON or numbers, how
many turns has the conversation), so a group named by one is already a
description of what to fix or to add to the training data.

Each feature is a `Dimension`: a name, a title and one value per pair, with
the order its values are shown in. Values are self-describing labels
("long (>1000 chars)"), because they are printed as they are.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol


class HasInput(Protocol):
    """What the input dimensions read: a shadow pair, or a stored request input (for postmortems)."""

    @property
    def input_text(self) -> str: ...

    @property
    def turns(self) -> int: ...


SHORT_BELOW = 200
LONG_ABOVE = 1000

LENGTHS = (
    f"short (<{SHORT_BELOW} chars)",
    f"medium ({SHORT_BELOW}–{LONG_ABOVE} chars)",
    f"long (>{LONG_ABOVE} chars)",
)
SCRIPTS = ("latin", "cyrillic", "greek", "arabic", "hebrew", "cjk", "devanagari", "other")
TURNS = ("1 turn", "2–3 turns", "4+ turns")

#: The first word of a Unicode character name, for the scripts we name.
_SCRIPT_OF_NAME = {
    "LATIN": "latin",
    "CYRILLIC": "cyrillic",
    "GREEK": "greek",
    "ARABIC": "arabic",
    "HEBREW": "hebrew",
    "CJK": "cjk",
    "HIRAGANA": "cjk",
    "KATAKANA": "cjk",
    "HANGUL": "cjk",
    "DEVANAGARI": "devanagari",
}


@dataclass(frozen=True, slots=True)
class Dimension:
    """One way to group pairs: `of(pair)` is the pair's value, `order` the values' display order."""

    name: str
    title: str
    of: Callable[[HasInput], str]
    order: tuple[str, ...]


def length_bucket(text: str) -> str:
    size = len(text)
    if size < SHORT_BELOW:
        return LENGTHS[0]
    return LENGTHS[1] if size <= LONG_ABOVE else LENGTHS[2]


@lru_cache(maxsize=8192)
def _script_of_char(ch: str) -> str | None:
    if not ch.isalpha():
        return None
    if ch.isascii():
        return "latin"
    head = unicodedata.name(ch, "").split(" ", 1)[0]
    return _SCRIPT_OF_NAME.get(head, "other")


def script(text: str) -> str:
    """The script most of the letters are written in; `other` for none we name, or no letters.

    Counting distinct characters first keeps this fast on long inputs: the
    per-character lookup runs once per distinct character, not per character.
    """
    votes: Counter[str] = Counter()
    for ch, count in Counter(text).items():
        found = _script_of_char(ch)
        if found is not None:
            votes[found] += count
    if not votes:
        return "other"
    return max(votes.items(), key=lambda item: (item[1], -SCRIPTS.index(item[0])))[0]


_FENCE = re.compile(r"^\s*(?:```|~~~)", re.MULTILINE)
_CODE = re.compile(
    r"^\s*(?:async\s+)?def\s+\w+\s*\("  # Python
    r"|^\s*class\s+\w+\s*[(:{]"
    r"|^\s*import\s+[\w.]+(?:\s+as\s+\w+)?\s*;?\s*$"
    r"|^\s*from\s+[\w.]+\s+import\s+[\w*]"
    r"|\bfunction\s*\w*\s*\([^)\n]*\)\s*\{"  # JavaScript
    r"|\b(?:const|let|var)\s+\w+\s*=.*;\s*$"
    r"|=>\s*\{"
    r"|^\s*#include\s*[<\"]"  # C, C++
    r"|\b(?:public|private|protected)\s+(?:static\s+)?[\w<>\[\]]+\s+\w+\s*\("  # Java, C#
    r"|\bfunc\s+\w+\s*\(|\bfn\s+\w+\s*\("  # Go, Rust
    r"|\bconsole\.log\(|\bSystem\.out\.print"
    r"|^\s*SELECT\b[^\n]*\bFROM\b|^\s*(?:INSERT\s+INTO|UPDATE\s+\w+\s+SET|CREATE\s+TABLE)\b"  # SQL
    r"|<(\w+)[^>\n]*>[^<\n]*</\1>",  # HTML, XML
    re.MULTILINE,
)
#: Lines that end like statements or blocks; two of them are code even without a keyword.
_SYNTAX_LINE = re.compile(r"(?:[;{]\s*$)|(?:^\s*[})\]];?\s*$)", re.MULTILINE)


def looks_like_code(text: str) -> bool:
    """A fenced block, a line of typical syntax in a common language, or two statement-like lines."""
    if _FENCE.search(text) or _CODE.search(text):
        return True
    return len(_SYNTAX_LINE.findall(text, 0, 20_000)) >= 2


_JSON_OPEN = re.compile(r"\{\s*\"|\[\s*[\[{\"]")
_DECODER = json.JSONDecoder()


def contains_json(text: str, *, attempts: int = 20) -> bool:
    """Does a JSON object (with a key) or array (of two or more items) stand anywhere in the text?"""
    for i, found in enumerate(_JSON_OPEN.finditer(text)):
        if i >= attempts:
            break
        try:
            value, _end = _DECODER.raw_decode(text, found.start())
        except json.JSONDecodeError:
            continue
        if (isinstance(value, dict) and value) or (isinstance(value, list) and len(value) >= 2):
            return True
    return False


_DIGIT = re.compile(r"\d")


def turns_bucket(turns: int) -> str:
    if turns <= 1:
        return TURNS[0]
    return TURNS[1] if turns <= 3 else TURNS[2]


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


INPUT_DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("length", "input length", lambda p: length_bucket(p.input_text), LENGTHS),
    Dimension("script", "script of the input", lambda p: script(p.input_text), SCRIPTS),
    Dimension("code", "input contains code", lambda p: _yes_no(looks_like_code(p.input_text)), ("yes", "no")),
    Dimension("json", "input contains JSON", lambda p: _yes_no(contains_json(p.input_text)), ("yes", "no")),
    Dimension(
        "numbers",
        "input contains numbers",
        lambda p: _yes_no(_DIGIT.search(p.input_text) is not None),
        ("yes", "no"),
    ),
    Dimension("turns", "conversation turns", lambda p: turns_bucket(p.turns), TURNS),
)


def input_features(pair: HasInput) -> dict[str, str]:
    """The pair's value along every input dimension, keyed by dimension name."""
    return {d.name: d.of(pair) for d in INPUT_DIMENSIONS}
