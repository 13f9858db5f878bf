"""Smoke tests for blue-green deploys: a few (10–20) representative prompts with simple expectations.

A smoke test answers one question before traffic moves to a standby slot:
does the new model answer at all, in the expected format, with the right
label on the obvious cases? It is not an evaluation; 10-20 cases keep it fast
enough to run on every deploy, so the report warns outside that range.

Cases are JSONL, one object per line (blank lines and `#` lines are skipped):

    {"id": "billing-1", "prompt": "i was charged twice", "expect": {"label": "billing"}}
    {"id": "json-1", "messages": [{"role": "user", "content": "..."}], "expect": {"json": true}}
    {"id": "raw-1", "completion": "ticket: refund please intent:", "expect": {"label": "billing"}}

`prompt` and `messages` are chat requests; `completion` is a raw text
completion (`/v1/completions`), for base models and classifiers without a
chat template.

Expectations (all optional; an answer must be non-empty unless `non_empty` is
false): `regex` (searched in the stripped answer), `json` (the answer parses as
JSON), `label` (the answer's first word, or its JSON `label` field, compared
case- and punctuation-insensitively) and `max_chars`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from slipway.core.errors import ConfigError
from slipway.core.labels import answer_label, normalize_label
from slipway.evals.adapter_probe import ProbeReport

RECOMMENDED_MIN: Final = 10
RECOMMENDED_MAX: Final = 20
#: Bounds a runaway generation so a broken model fails the smoke test quickly.
DEFAULT_MAX_TOKENS: Final = 1024
PREVIEW_CHARS: Final = 80

CASE_KEYS: Final = frozenset(
    {"id", "prompt", "messages", "completion", "system", "expect", "category", "max_tokens"}
)
EXPECT_KEYS: Final = frozenset({"non_empty", "regex", "json", "label", "max_chars"})
ROLES: Final = frozenset({"system", "developer", "user", "assistant"})

_HINT = 'one JSON object per line, e.g. {"id": "billing-1", "prompt": "...", "expect": {"label": "billing"}}'


@dataclass(frozen=True, slots=True)
class Expectations:
    non_empty: bool = True
    regex: re.Pattern[str] | None = None
    json: bool = False
    label: str | None = None
    max_chars: int | None = None


@dataclass(frozen=True, slots=True)
class SmokeCase:
    id: str
    prompt: str | None = None
    messages: tuple[dict[str, str], ...] = ()
    #: A raw text-completion prompt (/v1/completions), for base models without a chat template.
    completion: str | None = None
    system: str | None = None
    expect: Expectations = field(default_factory=Expectations)
    category: str | None = None
    max_tokens: int | None = None
    source: str = "<smoke>"
    line: int = 0

    def to_openai_request(self, model: str) -> dict[str, Any]:
        """A deterministic, non-streaming request: chat (`messages`), or a raw completion (`prompt`).

        No response_format is added for `json` cases: the smoke test checks
        what the model does on its own, not what a grammar forces it to do.
        """
        max_tokens = self.max_tokens
        if max_tokens is None and self.expect.max_chars is not None:
            # A token is at least one character: an answer within the limit is never cut short.
            max_tokens = self.expect.max_chars + 1
        if self.completion is not None:
            return {
                "model": model,
                "prompt": self.completion,
                "temperature": 0,
                "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
                "stream": False,
            }
        return self.to_openai_chat_request(model)

    def to_openai_chat_request(self, model: str) -> dict[str, Any]:
        """A deterministic, non-streaming chat request, as every backend kind can serve it."""
        if self.messages:
            messages = [dict(m) for m in self.messages]
        else:
            messages = [{"role": "system", "content": self.system}] if self.system else []
            messages.append({"role": "user", "content": self.prompt or ""})
        max_tokens = self.max_tokens
        if max_tokens is None and self.expect.max_chars is not None:
            # A token is at least one character: an answer within the limit is never cut short.
            max_tokens = self.expect.max_chars + 1
        return {
            "model": model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
            "stream": False,
        }


@dataclass(frozen=True, slots=True)
class CaseResult:
    case_id: str
    passed: bool
    failures: tuple[str, ...] = ()
    output_head: str = ""
    category: str | None = None
    #: The request itself failed (as opposed to an answer that missed its expectations).
    errored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.case_id,
            "passed": self.passed,
            "failures": list(self.failures),
            "output_head": self.output_head,
            "category": self.category,
            "errored": self.errored,
        }


@dataclass(frozen=True, slots=True)
class SmokeReport:
    results: tuple[CaseResult, ...]
    warnings: tuple[str, ...] = ()
    #: The adapter probe, when the slot's engine serves several model names (or why it was skipped).
    probe: ProbeReport | None = None

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def passed_count(self) -> int:
        return self.total - len(self.failed)

    @property
    def failed_count(self) -> int:
        return len(self.failed)

    @property
    def errored_count(self) -> int:
        return sum(1 for r in self.results if r.errored)

    @property
    def passed(self) -> bool:
        """Every case passed, and the adapter probe did not fail in required mode.

        An empty run proves nothing and does not pass.
        """
        return self.total > 0 and not self.failed and not (self.probe is not None and self.probe.blocks)

    def by_category(self) -> dict[str, tuple[int, int]]:
        """(passed, total) per category, so a report shows where a model broke."""
        counts: dict[str, tuple[int, int]] = {}
        for r in self.results:
            if r.category:
                ok, n = counts.get(r.category, (0, 0))
                counts[r.category] = (ok + r.passed, n + 1)
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "text": self.render_text(),
            "total": self.total,
            "passed_count": self.passed_count,
            "failed_count": self.failed_count,
            "errored_count": self.errored_count,
            "warnings": list(self.warnings),
            "categories": {k: {"passed": ok, "total": n} for k, (ok, n) in self.by_category().items()},
            "failed": [r.to_dict() for r in self.failed],
            "cases": [r.to_dict() for r in self.results],
            "adapter_probe": self.probe.to_dict() if self.probe is not None else None,
        }

    def render_text(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        lines = [f"smoke test {verdict}: {self.passed_count}/{self.total} cases passed"]
        if self.probe is not None and self.probe.blocks:
            lines[0] += ", adapter probe failed"
        if self.errored_count:
            lines[0] += f" ({self.errored_count} could not be run)"
        categories = self.by_category()
        if categories:
            lines.append("  " + ", ".join(f"{k} {ok}/{n}" for k, (ok, n) in categories.items()))
        for r in self.failed:
            lines.append(f"  FAIL {r.case_id}: {'; '.join(r.failures)}")
            if r.output_head and not r.errored:
                lines.append(f"       answer: {_preview(r.output_head)}")
        lines.extend(f"  warning: {w}" for w in self.warnings)
        if self.probe is not None:
            lines.extend("  " + line for line in self.probe.render_text().splitlines())
        return "\n".join(lines)


# ---------------------------------------------------------------- parsing


def parse_smoke_cases(text: str, source: str = "<smoke>") -> list[SmokeCase]:
    """Parse JSONL smoke cases; every error names the file, the line and the field."""
    cases: list[SmokeCase] = []
    seen: dict[str, int] = {}
    for number, obj in json_lines(text, source, _HINT):
        case = parse_case(obj, source, number)
        check_unique_id(case.id, number, seen, source)
        cases.append(case)
    if not cases:
        raise ConfigError("no smoke cases found", hint=_HINT, source=source)
    return cases


def json_lines(text: str, source: str, hint: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The JSON objects of a JSONL text with their line numbers; blank and `#` lines are skipped."""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"not valid JSON: {exc.msg} (column {exc.colno})", hint=hint, source=source, line=number
            ) from exc
        if not isinstance(obj, dict):
            raise ConfigError(
                f"each line must be a JSON object, found {type(obj).__name__}",
                hint=hint,
                source=source,
                line=number,
            )
        yield number, obj


def check_unique_id(case_id: str, line: int, seen: dict[str, int], source: str) -> None:
    if case_id in seen:
        raise ConfigError(
            f"case id {case_id!r} is already used on line {seen[case_id]}",
            hint="give every case its own id",
            source=source,
            line=line,
            field="id",
        )
    seen[case_id] = line


@dataclass(frozen=True, slots=True)
class _At:
    """Where a case came from, so its errors can say so."""

    source: str
    line: int

    def __call__(self, message: str, name: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, hint=hint, source=self.source, line=self.line, field=name)


def parse_case(
    obj: Mapping[str, Any], source: str, line: int, *, more_keys: frozenset[str] = frozenset()
) -> SmokeCase:
    """One case; `more_keys` are fields a caller (an evaluation suite) reads itself and allows here."""
    fail = _At(source, line)
    allowed = CASE_KEYS | more_keys
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise fail(f"unknown field {unknown[0]!r}", unknown[0], f"allowed: {', '.join(sorted(allowed))}")
    case_id = obj.get("id", f"line-{line}")
    if not isinstance(case_id, str) or not case_id.strip():
        raise fail("id must be a non-empty string", "id")
    prompt, messages, completion = obj.get("prompt"), obj.get("messages"), obj.get("completion")
    if sum(x is not None for x in (prompt, messages, completion)) != 1:
        raise fail(
            "give exactly one of prompt, messages or completion",
            "prompt",
            'e.g. "prompt": "where is my order?"',
        )
    for key, text in (("prompt", prompt), ("completion", completion)):
        if text is not None and (not isinstance(text, str) or not text.strip()):
            raise fail(f"{key} must be a non-empty string", key)
    system = obj.get("system")
    if system is not None and (not isinstance(system, str) or prompt is None):
        raise fail("system must be a string and goes with prompt (put it in messages otherwise)", "system")
    category = obj.get("category")
    if category is not None and not isinstance(category, str):
        raise fail("category must be a string", "category")
    max_tokens = obj.get("max_tokens")
    if max_tokens is not None and (not _is_int(max_tokens) or max_tokens < 1):
        raise fail("max_tokens must be a positive integer", "max_tokens")
    return SmokeCase(
        id=case_id.strip(),
        prompt=prompt,
        completion=completion,
        messages=_parse_messages(messages, fail) if messages is not None else (),
        system=system,
        expect=_parse_expect(obj.get("expect", {}), fail),
        category=category,
        max_tokens=max_tokens,
        source=source,
        line=line,
    )


def _parse_messages(raw: Any, fail: _At) -> tuple[dict[str, str], ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("messages must be a non-empty list", "messages")
    out: list[dict[str, str]] = []
    for i, msg in enumerate(raw):
        if (
            not isinstance(msg, dict)
            or not isinstance(msg.get("content"), str)
            or msg.get("role") not in ROLES
        ):
            raise fail(
                "each message needs a role (system, user or assistant) and a string content", f"messages[{i}]"
            )
        out.append({"role": msg["role"], "content": msg["content"]})
    return tuple(out)


def _parse_expect(raw: Any, fail: _At) -> Expectations:
    if not isinstance(raw, dict):
        raise fail("expect must be an object", "expect", 'e.g. "expect": {"label": "billing"}')
    unknown = sorted(set(raw) - EXPECT_KEYS)
    if unknown:
        raise fail(
            f"unknown expectation {unknown[0]!r}",
            f"expect.{unknown[0]}",
            f"allowed: {', '.join(sorted(EXPECT_KEYS))}",
        )
    for key in ("non_empty", "json"):
        if key in raw and not isinstance(raw[key], bool):
            raise fail(f"{key} must be true or false", f"expect.{key}")
    pattern = None
    if "regex" in raw:
        if not isinstance(raw["regex"], str):
            raise fail("regex must be a string", "expect.regex")
        try:
            pattern = re.compile(raw["regex"])
        except re.error as exc:
            raise fail(f"invalid regex {raw['regex']!r}: {exc}", "expect.regex") from exc
    label = raw.get("label")
    if label is not None:
        if not isinstance(label, str) or not normalize_label(label):
            raise fail("label must be a non-empty string", "expect.label")
        if normalize_label(label) != label.strip().lower():
            raise fail(
                f"label {label!r} would be compared as {normalize_label(label)!r}",
                "expect.label",
                "labels are compared by their first word; use a single word such as 'billing'",
            )
        label = normalize_label(label)
    max_chars = raw.get("max_chars")
    if max_chars is not None and (not _is_int(max_chars) or max_chars < 1):
        raise fail("max_chars must be a positive integer", "expect.max_chars")
    return Expectations(
        non_empty=raw.get("non_empty", True),
        regex=pattern,
        json=raw.get("json", False),
        label=label,
        max_chars=max_chars,
    )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# ---------------------------------------------------------------- checking


def check_output(case: SmokeCase, output: str | None, error: str | None) -> CaseResult:
    """Judge one answer; every failure is a sentence an on-call engineer can act on."""
    category = case.category or case.expect.label
    if error is not None:
        return CaseResult(case.id, False, (f"request failed: {error}",), category=category, errored=True)
    if output is None:
        return CaseResult(
            case.id, False, ("the backend returned no answer",), category=category, errored=True
        )
    failures = _failures(case.expect, output)
    return CaseResult(case.id, not failures, tuple(failures), output[:PREVIEW_CHARS], category)


def _failures(expect: Expectations, output: str) -> list[str]:
    answer = output.strip()
    if not answer:
        return ["expected a non-empty answer, got an empty one"] if expect.non_empty else []
    failures: list[str] = []
    if expect.max_chars is not None and len(answer) > expect.max_chars:
        failures.append(f"expected at most {expect.max_chars} characters, got {len(answer)}")
    if expect.regex is not None and not expect.regex.search(answer):
        failures.append(f"expected the answer to match /{expect.regex.pattern}/, got {_preview(answer)}")
    parsed: Any = None
    if expect.json:
        try:
            parsed = json.loads(answer)
        except json.JSONDecodeError as exc:
            failures.append(f"expected valid JSON, got {_preview(answer)} ({exc.msg})")
    if expect.label is not None:
        got = answer_label(answer, parsed)
        if got != expect.label:
            failures.append(
                f"expected label {expect.label!r}, got {got!r}"
                if got
                else f"expected label {expect.label!r}, got no label in {_preview(answer)}"
            )
    return failures


def _preview(text: str) -> str:
    return repr(text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…")


def summarize(results: Sequence[CaseResult]) -> SmokeReport:
    """The deploy's verdict: all cases must pass; too few or too many cases is worth a warning."""
    warnings: list[str] = []
    n = len(results)
    if n == 0:
        warnings.append("no smoke cases were run; nothing was checked")
    elif n < RECOMMENDED_MIN:
        warnings.append(
            f"only {n} smoke case{'s' if n != 1 else ''}; use {RECOMMENDED_MIN}-{RECOMMENDED_MAX} "
            "representative prompts so every category is exercised"
        )
    elif n > RECOMMENDED_MAX:
        warnings.append(
            f"{n} smoke cases; more than {RECOMMENDED_MAX} slows every deploy "
            "(move the rest to the evaluation suite)"
        )
    return SmokeReport(results=tuple(results), warnings=tuple(warnings))
