"""Output checks: is an answer unsafe, nonsensical or malformed? (They call for an immediate rollback.)

A check looks at the head of one answer (the first `HEAD_CHARS` characters the
gateway records) and returns None when it is fine, or a few words saying what
is wrong. `run_checks` applies a list of them to many answers and counts the
answers that failed at least one: the candidate's "invalid output rate",
compared with production's like any other rate (`decide.judge`).

    check(head: str, *, truncated: bool) -> str | None     # the OutputCheck protocol
    run_checks(outputs, checks) -> CheckTally               # outputs: (head, truncated) pairs
    build_checks(OutputChecksConfig) -> tuple[OutputCheck, ...]

Built in, one class each, all pure and fast (the store source runs them on
up to 10,000 answers per arm at every check):

* `NonEmpty` — a completed request that produced nothing.
* `DenyList` — regular expressions that must not appear (slurs, leaked
  system prompt markers, "as an AI language model", a competitor's name...).
* `Repetition` — the degenerate loop of a broken fine-tune: one character
  repeated 20+ times, or a handful of words making up most of the text.
* `Gibberish` — Unicode replacement characters (an adapter for another base
  emits broken tokens), or mostly symbols rather than words.
* `JsonFormat` — the answer must be JSON (optionally matching a small schema
  subset: type, required, properties, items, enum, maxLength). A truncated
  head is judged only as far as it goes.

`truncated` is true when the answer was longer than its recorded head, so a
check must not fail it for what it cannot see (a JSON object cut off midway).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

from pydantic import BaseModel, ConfigDict

from slipway.core.numbers import Range


class OutputCheck(Protocol):
    @property
    def name(self) -> str:
        """Short and stable: it keys the per-check counts in reports."""
        ...

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        """None when the answer is fine, else what is wrong with it."""
        ...


@dataclass(frozen=True, slots=True)
class NonEmpty:
    name: str = "empty"

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        return None if head.strip() else "empty answer"


@dataclass(frozen=True, slots=True)
class DenyList:
    """Fails an answer in which any of the patterns (case-insensitive regular expressions) occurs."""

    patterns: tuple[str, ...]
    name: str = "deny-list"
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = re.compile("|".join(f"(?:{p})" for p in self.patterns), re.IGNORECASE)
        except re.error as exc:
            raise ValueError(f"deny-list pattern does not compile: {exc}") from exc
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        if not self.patterns:
            return None
        found = self._compiled.search(head)
        return None if found is None else f"denied text {found.group(0)[:40]!r}"


_RUN = re.compile(r"(.)\1{19,}", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Repetition:
    """Fails loops: a character run of `max_run` or more, or too few distinct words for the length."""

    max_run: int = 20
    min_words: int = 16
    #: Distinct words ÷ words below this is a loop ("the the the...", a sentence over and over).
    min_distinct_ratio: float = 0.25
    name: str = "repetition"

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        if self.max_run == 20:
            run = _RUN.search(head)
        else:
            run = re.search(rf"(.)\1{{{self.max_run - 1},}}", head, re.DOTALL)
        if run is not None and not run.group(1).isspace() and run.group(1) not in "-=_*#.":
            return f"{run.group(1)!r} repeated {len(run.group(0))} times"
        words = head.lower().split()
        if len(words) >= self.min_words:
            distinct = len(set(words)) / len(words)
            if distinct < self.min_distinct_ratio:
                return f"only {len(set(words))} distinct words in {len(words)}"
        return None


@dataclass(frozen=True, slots=True)
class Gibberish:
    """Fails broken-token output (U+FFFD) and text that is mostly neither letters nor digits."""

    max_replacement: int = 2
    min_text_ratio: float = 0.5
    min_chars: int = 20
    name: str = "gibberish"

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        bad = head.count("\ufffd")
        if bad > self.max_replacement:
            return f"{bad} replacement characters (broken tokens)"
        visible = [ch for ch in head if not ch.isspace()]
        if len(visible) >= self.min_chars:
            text = sum(1 for ch in visible if ch.isalnum())
            if text / len(visible) < self.min_text_ratio:
                return f"mostly symbols ({text} of {len(visible)} characters are letters or digits)"
        return None


@dataclass(frozen=True, slots=True)
class JsonFormat:
    """The answer must be JSON; with a schema, it must also match it (a small subset of JSON Schema)."""

    schema: Mapping[str, Any] | None = None
    name: str = "json"

    def __call__(self, head: str, *, truncated: bool) -> str | None:
        text = head.strip()
        if not text:
            return "not JSON (empty)"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if truncated and _cut_off(text, exc):
                return None if text[0] in "{[" else f"not JSON (starts with {text[:12]!r})"
            return f"not JSON ({exc.msg} at {exc.pos})"
        if self.schema is None:
            return None
        problem = schema_problem(value, self.schema)
        return None if problem is None else f"JSON does not match the schema: {problem}"


def _cut_off(text: str, exc: json.JSONDecodeError) -> bool:
    """Did parsing fail only because the text ends early?"""
    return exc.pos >= len(text) or exc.msg.startswith("Unterminated string")


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def schema_problem(value: Any, schema: Mapping[str, Any], path: str = "$") -> str | None:
    """The first way `value` breaks `schema`, or None. Supports type, enum, required, properties,
    items and maxLength; other keywords are ignored."""
    kind = schema.get("type")
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        ok = any(
            isinstance(value, _TYPES.get(k, ()))
            and not (k in ("integer", "number") and isinstance(value, bool))
            for k in kinds
        )
        if not ok:
            return f"{path} is {type(value).__name__}, expected {'/'.join(kinds)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path} is {value!r}, expected one of {schema['enum']!r}"
    if isinstance(value, str) and "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"{path} is longer than {schema['maxLength']} characters"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{path}.{key} is missing"
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                problem = schema_problem(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for i, item in enumerate(value):
            problem = schema_problem(item, schema["items"], f"{path}[{i}]")
            if problem:
                return problem
    return None


# -- running them --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckTally:
    checked: int
    invalid: int
    #: Failures per check name (an answer failing two checks counts in both).
    by_check: Mapping[str, int]
    #: A few failing answers with what was wrong, for the report.
    examples: tuple[tuple[str, str], ...] = ()


def run_checks(
    outputs: Iterable[tuple[str, bool]], checks: Sequence[OutputCheck], *, examples: int = 5
) -> CheckTally:
    """Apply every check to every (head, truncated) answer; count answers failing any check."""
    checked = invalid = 0
    by_check: dict[str, int] = {}
    shown: list[tuple[str, str]] = []
    for head, truncated in outputs:
        checked += 1
        failed = False
        for check in checks:
            problem = check(head, truncated=truncated)
            if problem is not None:
                failed = True
                by_check[check.name] = by_check.get(check.name, 0) + 1
                if len(shown) < examples:
                    shown.append((head[:80], f"{check.name}: {problem}"))
        invalid += failed
    return CheckTally(checked, invalid, by_check, tuple(shown))


class OutputChecksConfig(BaseModel):
    """Which checks run; the defaults need no configuration."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    non_empty: bool = True
    repetition: bool = True
    gibberish: bool = True
    deny: tuple[str, ...] = ()
    #: Answers must be JSON; a mapping is a schema they must also match.
    json_format: bool | dict[str, Any] = False
    max_run: Annotated[int, Range(2, 10_000, unit="characters")] = 20


def build_checks(config: OutputChecksConfig | None = None) -> tuple[OutputCheck, ...]:
    """The configured checks, in a fixed order."""
    config = config or OutputChecksConfig()
    checks: list[OutputCheck] = []
    if config.non_empty:
        checks.append(NonEmpty())
    if config.deny:
        checks.append(DenyList(tuple(config.deny)))
    if config.repetition:
        checks.append(Repetition(max_run=config.max_run))
    if config.gibberish:
        checks.append(Gibberish())
    if config.json_format is not False:
        schema = config.json_format if isinstance(config.json_format, dict) else None
        checks.append(JsonFormat(schema))
    return tuple(checks)


DEFAULT_CHECKS: tuple[OutputCheck, ...] = build_checks()
