"""Format compliance of one answer, from the `shadow.checks` config ("both outputs valid?").

Every check gives pass or fail and, on a fail, a few words saying why: the
reason travels to the report's example pairs and the review export, where a
human must see at a glance *what* was wrong ("not JSON (Expecting value at
0)", "label 'refund' not allowed"), not just that something was.

The checks, in the order they run:

* `error` — the slot gave no usable answer (status, timeout, dropped); the
  other checks are skipped, there is nothing to check.
* `min_chars`, `max_chars` — length bounds (min 1 by default: not empty).
* `json`, `json_schema` — the answer is a JSON document; with a schema, one
  valid against it (full JSON Schema, any draft the schema names).
* `regex`, `deny_regex` — must match / must not match (searched anywhere;
  flags as written, e.g. `(?i)` for case-insensitive).
* `labels` — the answer's label (`core.labels.answer_label`: the JSON `label`
  field or the first word, the rule canary accuracy uses) is allowed.
* `refusal` — the answer declines the task: a refusal phrase in its first
  `REFUSAL_HEAD` characters.
* `repetition`, `gibberish` — always on: the canary's degenerate-output
  heuristics (`analysis.output_checks`), skipped for JSON documents, whose
  punctuation and repeated keys are not a loop.

An answer cut at the pair's size limit (`truncated`) is not failed for JSON
it cannot see the end of.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema import validators as schema_validators

from slipway.analysis.output_checks import Gibberish, JsonFormat, Repetition
from slipway.core.errors import ConfigError
from slipway.core.labels import answer_label, normalize_label
from slipway.core.shadow import ShadowAnswer
from slipway.core.shadow_config import ShadowChecksConfig

#: Refusals are looked for only this far into an answer: later, "I cannot" is usually content.
REFUSAL_HEAD = 240
_REFUSAL = re.compile(
    r"\bI(?:'|’)?m sorry,? but\b|\bI am sorry,? but\b|\bSorry,? but I\b|\bI apologi[sz]e,? but\b"
    r"|\bI (?:cannot|can(?:'|’)t|can not|won(?:'|’)t|will not|am not able to|(?:'|’)m not able to)"
    r" (?:help|assist|provide|comply|fulfil|answer|do that|support|share|create|generate|give"
    r"|complete|process|respond|engage|discuss)"
    r"|\bI(?:'|’)?m unable to\b|\bI am unable to\b|\bI must decline\b"
    r"|\bAs an AI\b|\bAs a (?:large )?language model\b",
    re.IGNORECASE,
)
_NO_JSON = object()


@dataclass(frozen=True, slots=True)
class CheckResult:
    check: str
    passed: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FormatResult:
    """Every check's result for one answer."""

    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def summary(self) -> str:
        """'pass', or the failed checks with their reasons."""
        bad = self.failed
        if not bad:
            return "pass"
        return "; ".join(r.reason if r.check == "error" else f"{r.check}: {r.reason}" for r in bad)


def refusal(text: str) -> str | None:
    """The refusal phrase the answer opens with, or None."""
    found = _REFUSAL.search(text, 0, REFUSAL_HEAD)
    return None if found is None else found.group(0)


def error_reason(answer: ShadowAnswer) -> str:
    return f"error: {answer.error}" if answer.error else f"error: HTTP {answer.status or 'none'}"


class FormatValidator:
    """The checks a config asks for, compiled once and applied to many answers."""

    def __init__(self, checks: ShadowChecksConfig) -> None:
        self.config = checks
        self._regex = re.compile(checks.regex) if checks.regex else None
        self._deny = re.compile(checks.deny_regex) if checks.deny_regex else None
        self._labels = None if checks.labels is None else frozenset(normalize_label(x) for x in checks.labels)
        self._schema: Any = None
        if checks.json_schema is not None:
            cls = schema_validators.validator_for(checks.json_schema)
            try:
                cls.check_schema(checks.json_schema)
            except schema_errors.SchemaError as exc:
                raise ConfigError(
                    f"shadow.checks.json_schema is not a valid JSON Schema: {exc.message}",
                    hint="fix the schema (see https://json-schema.org) or remove json_schema",
                ) from None
            self._schema = cls(checks.json_schema)
        self._want_json = checks.is_json or self._schema is not None
        self._json_format = JsonFormat()
        self._repetition = Repetition()
        self._gibberish = Gibberish()

    @property
    def names(self) -> tuple[str, ...]:
        """The checks this validator applies (besides `error`), for the report's header."""
        c = self.config
        names = [n for n, on in (("min_chars", c.min_chars), ("max_chars", c.max_chars)) if on]
        names += ["json"] if self._want_json else []
        names += ["json_schema"] if self._schema is not None else []
        names += [n for n, on in (("regex", self._regex), ("deny_regex", self._deny)) if on]
        names += ["labels"] if self._labels is not None else []
        names += ["refusal"] if c.refusal else []
        return (*names, "repetition", "gibberish")

    def __call__(self, answer: ShadowAnswer) -> FormatResult:
        if not answer.ok:
            return FormatResult((CheckResult("error", False, error_reason(answer)),))
        text = answer.text
        results: list[CheckResult] = []
        add = results.append
        c = self.config
        if c.min_chars:
            size = len(text.strip())
            ok = size >= c.min_chars
            why = "empty" if size == 0 else f"{size} characters, fewer than {c.min_chars}"
            add(CheckResult("min_chars", ok, "" if ok else why))
        if c.max_chars:
            ok = len(text) <= c.max_chars
            add(CheckResult("max_chars", ok, "" if ok else f"{len(text)} characters, over {c.max_chars}"))
        parsed = self._parse(text)
        if self._want_json:
            problem = self._json_format(text, truncated=answer.truncated)
            add(CheckResult("json", problem is None, problem or ""))
        if self._schema is not None:
            add(self._check_schema(parsed, answer.truncated))
        if self._regex is not None:
            ok = self._regex.search(text) is not None
            add(CheckResult("regex", ok, "" if ok else f"does not match {self._regex.pattern[:60]!r}"))
        if self._deny is not None:
            hit = self._deny.search(text)
            add(
                CheckResult(
                    "deny_regex", hit is None, "" if hit is None else f"contains {hit.group(0)[:40]!r}"
                )
            )
        if self._labels is not None:
            label = answer_label(text, None if parsed is _NO_JSON else parsed)
            ok = label in self._labels
            add(CheckResult("labels", ok, "" if ok else f"label {label[:40]!r} is not allowed"))
        if c.refusal:
            phrase = refusal(text)
            add(CheckResult("refusal", phrase is None, "" if phrase is None else f"refuses ({phrase!r})"))
        if parsed is _NO_JSON:
            for check in (self._repetition, self._gibberish):
                problem = check(text, truncated=answer.truncated)
                add(CheckResult(check.name, problem is None, problem or ""))
        return FormatResult(tuple(results))

    def _parse(self, text: str) -> Any:
        """The answer as JSON, or `_NO_JSON`; scalars are tried only when JSON is asked for."""
        stripped = text.strip()
        if not stripped or (stripped[0] not in "{[" and not self._want_json):
            return _NO_JSON
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return _NO_JSON

    def _check_schema(self, parsed: Any, truncated: bool) -> CheckResult:
        if parsed is _NO_JSON:
            if truncated:
                return CheckResult("json_schema", True)
            return CheckResult("json_schema", False, "not JSON, so not valid against the schema")
        error = schema_errors.best_match(self._schema.iter_errors(parsed))
        if error is None:
            return CheckResult("json_schema", True)
        return CheckResult("json_schema", False, f"{error.json_path}: {error.message}"[:160])
