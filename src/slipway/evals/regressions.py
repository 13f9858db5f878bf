"""Failing production answers become regression cases, and training data for the next retrain.

The article's closing loop: "the failing cases become regression tests".
Each wrong, labelled answer of a rolled-back version becomes a suite case
that must pass (`must_pass`), expecting the right label, with an `origin`
saying where it came from: deployment, request, version, what it answered
and what it should have. Before that:

* personal data is redacted by the operator's patterns (each match becomes
  `[redacted]`), in the input and in the origin's quoted answer alike;
* the request is rebuilt from its stored body (chat messages, or a raw
  completion prompt), or from its flattened input text when the body was
  too large to keep and the input was a single turn; anything else is
  skipped and counted with its reason;
* cases are deduplicated by their normalised input, against each other and
  against the cases the suite already has.

Pure: the composition root reads the store and writes the new suite version.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from slipway.core.errors import ConfigError, ValidationError
from slipway.core.lifecycle import RequestInput
from slipway.evals.suite import MAX_CASES, ORIGIN_MAX, parse_suite_case

REDACTED = "[redacted]"
#: Bounds on the operator's redaction patterns (they come from the API).
MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 500
#: Characters of the wrong answer (and of the label) quoted in a case's origin.
ANSWER_QUOTE_CHARS = 80
_SPACE = re.compile(r"\s+")
_CHAT_ROLES = ("system", "developer", "user", "assistant")


@dataclass(frozen=True, slots=True)
class FailingAnswer:
    """One wrong, labelled answer and what the request asked (None: its input was not stored)."""

    deployment_id: str
    request_id: str
    version: str
    category: str
    answered: str
    label: str
    input: RequestInput | None


@dataclass(frozen=True, slots=True)
class Batch:
    """The cases built from one run, and what was left out and why."""

    cases: tuple[dict[str, Any], ...]
    training: tuple[dict[str, Any], ...]
    #: Reason -> count: not rebuildable, duplicates among themselves, already in the suite.
    skipped: Mapping[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        left = "; ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return f"{len(self.cases)} new case{'s' if len(self.cases) != 1 else ''}" + (
            f" (skipped: {left})" if left else ""
        )


def compile_redactions(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    """The operator's patterns, compiled; a bad one is refused with its position and the fix."""
    if len(patterns) > MAX_PATTERNS:
        raise ValidationError(
            f"{len(patterns)} redaction patterns given, at most {MAX_PATTERNS}",
            hint="combine patterns with | (e.g. 'a@b|\\d{16}')",
        )
    out = []
    for i, text in enumerate(patterns):
        if not text or len(text) > MAX_PATTERN_CHARS:
            raise ValidationError(
                f"redaction pattern #{i + 1} has {len(text)} characters; "
                f"it must have 1 to {MAX_PATTERN_CHARS}"
            )
        try:
            out.append(re.compile(text))
        except re.error as exc:
            raise ValidationError(
                f"redaction pattern #{i + 1} {text!r} is not a valid regular expression: {exc}",
                hint="Python's re syntax, e.g. '[\\w.+-]+@[\\w-]+\\.[\\w.]+' for e-mail addresses",
            ) from None
    return out


def redact(text: str, patterns: Sequence[re.Pattern[str]]) -> str:
    for p in patterns:
        text = p.sub(REDACTED, text)
    return text


def normalised(text: str) -> str:
    """What makes two inputs the same case: lowercase, whitespace collapsed, trimmed."""
    return _SPACE.sub(" ", text).strip().lower()


def case_input_text(case: Mapping[str, Any]) -> str:
    """A suite case's input as one text (system, prompt, completion or every message), for dedupe."""
    parts = []
    for key in ("system", "prompt", "completion"):
        if isinstance(case.get(key), str):
            parts.append(case[key])
    for m in case.get("messages") or ():
        if isinstance(m, Mapping) and isinstance(m.get("content"), str):
            parts.append(f"{m.get('role')}: {m['content']}")
    return "\n".join(parts)


def build(
    failing: Iterable[FailingAnswer],
    *,
    existing: Sequence[Mapping[str, Any]] = (),
    redactions: Sequence[re.Pattern[str]] = (),
) -> Batch:
    """Suite cases (and training rows) from wrong answers, redacted and deduplicated."""
    seen = {normalised(case_input_text(c)) for c in existing}
    seen.discard("")
    known_ids = {str(c.get("id")) for c in existing}
    skipped: Counter[str] = Counter()
    cases: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []
    batch_keys: set[str] = set()
    for f in failing:
        request, why = _request_of(f.input)
        if request is None:
            skipped[why] += 1
            continue
        request = _redacted(request, redactions)
        key = normalised(case_input_text(request))
        if key in seen:
            skipped["already in the suite"] += 1
            continue
        if key in batch_keys:
            skipped["duplicates of another failing input"] += 1
            continue
        batch_keys.add(key)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        case_id = f"regression-{digest}"
        if case_id in known_ids:
            skipped["already in the suite"] += 1
            continue
        if len(existing) + len(cases) >= MAX_CASES:
            skipped[f"beyond a suite's {MAX_CASES:,} cases"] += 1
            continue
        answered = redact(f.answered[:ANSWER_QUOTE_CHARS], redactions)
        origin = (
            f"deployment {f.deployment_id}, request {f.request_id}: {f.version} answered "
            f"{answered!r}, the right label is {f.label[:ANSWER_QUOTE_CHARS]!r}"
        )
        case = {
            "id": case_id,
            **request,
            "expect": {"label": f.label},
            "category": f.category,
            "origin": origin[:ORIGIN_MAX],
            "must_pass": True,
        }
        source = f"regressions from {f.deployment_id}"
        try:
            # Held to the suite's own parser: a case slipway writes is one `slipway eval` can run.
            parse_suite_case(case, source, 1)
        except ConfigError as exc:
            skipped[f"not a valid suite case ({exc.message.removeprefix(f'{source}:1: ')})"] += 1
            continue
        cases.append(case)
        training.append(_training_row(request, f.label))
    return Batch(tuple(cases), tuple(training), dict(skipped))


def to_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def _request_of(stored: RequestInput | None) -> tuple[dict[str, Any] | None, str]:
    """The case's request fields, or None and why it cannot be rebuilt."""
    if stored is None:
        return None, "without a stored input"
    body = stored.request
    if body is not None:
        messages = _messages(body.get("messages"))
        if messages:
            return {"messages": messages}, ""
        prompt = body.get("prompt")
        if isinstance(prompt, str) and prompt.strip():
            system = body.get("system")
            if isinstance(system, str) and system.strip():
                return {"prompt": prompt, "system": system}, ""
            return {"completion": prompt}, ""
    if stored.turns > 1:
        return None, "conversations of several turns without a stored request body"
    if not stored.input_text.strip():
        return None, "with an empty input"
    return {"prompt": stored.input_text}, ""


def _messages(raw: Any) -> list[dict[str, str]]:
    """Chat messages as role + text content (content parts joined); [] when there is no usable message."""
    if not isinstance(raw, list):
        return []
    out = []
    for m in raw:
        if not isinstance(m, Mapping) or m.get("role") not in _CHAT_ROLES:
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = "\n".join(
                p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
            )
        if isinstance(content, str) and content:
            out.append({"role": str(m["role"]), "content": content})
    return out if any(m["role"] == "user" for m in out) else []


def _redacted(request: dict[str, Any], patterns: Sequence[re.Pattern[str]]) -> dict[str, Any]:
    if not patterns:
        return request
    out: dict[str, Any] = {}
    for key, value in request.items():
        if isinstance(value, str):
            out[key] = redact(value, patterns)
        elif key == "messages":
            out[key] = [{"role": m["role"], "content": redact(m["content"], patterns)} for m in value]
        else:
            out[key] = value
    return out


def _training_row(request: Mapping[str, Any], label: str) -> dict[str, Any]:
    """Chat messages ending in the right answer, or a prompt with its completion."""
    if "completion" in request:
        return {"prompt": request["completion"], "completion": label}
    if "messages" in request:
        messages = [dict(m) for m in request["messages"]]
    else:
        messages = [{"role": "system", "content": request["system"]}] if request.get("system") else []
        messages.append({"role": "user", "content": request["prompt"]})
    messages.append({"role": "assistant", "content": label})
    return {"messages": messages}
