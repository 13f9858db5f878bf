"""Evaluation suites: versioned sets of cases a candidate must pass before users see it.

A suite case is a smoke case (same fields, same expectations, same
correctness rule) with two more fields: `origin`, where it came from ("a
wrong billing answer of v2.2 in deployment dep-7"), and `must_pass`, a hard
case the candidate must get right whatever production does (the cases that
earlier rollbacks taught us). Unlike a smoke test, a suite is judged per
category and paired against production: a category is failed only when the
candidate is worse there by more than the suite's allowed drop, with
confidence, so a suite grown to thousands of cases does not block on noise.

    {"id": "billing-7", "prompt": "charged twice", "expect": {"label": "billing"},
     "category": "billing", "origin": "rollback of v2.2", "must_pass": true}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from slipway.core.errors import ConfigError
from slipway.evals.smoke import SmokeCase, check_unique_id, json_lines, parse_case

SUITE_KEYS: Final = frozenset({"origin", "must_pass"})
#: Enough for a suite grown by many rollbacks; a bigger one is a dataset, not a gate.
MAX_CASES: Final = 10_000
#: One case's JSON: a long conversation fits, a pasted document does not.
MAX_CASE_BYTES: Final = 64 * 1024
ORIGIN_MAX: Final = 500
DEFAULT_MAX_DROP_POINTS: Final = 5.0
DEFAULT_ALPHA: Final = 0.05

SUITE_HINT = (
    'one JSON object per line, e.g. {"id": "billing-1", "prompt": "...", "expect": {"label": "billing"}, '
    '"category": "billing"}'
)


@dataclass(frozen=True, slots=True)
class SuiteCase:
    case: SmokeCase
    origin: str | None = None
    must_pass: bool = False

    @property
    def id(self) -> str:
        return self.case.id

    @property
    def category(self) -> str | None:
        return self.case.category or self.case.expect.label


@dataclass(frozen=True, slots=True)
class SuiteRule:
    """When a paired run passes: no category (nor the whole) worse by more than the allowed drop.

    "Worse by more than N points" is the one-sided lower confidence bound of
    the paired drop exceeding N points, at `alpha` split over the categories:
    an identical candidate passes however many categories there are, and a
    handful of cases cannot fail a category on one unlucky answer.
    """

    max_drop_points: float = DEFAULT_MAX_DROP_POINTS
    alpha: float = DEFAULT_ALPHA
    #: Alone (no production to pair with), the share of cases that must pass; None: hard cases only.
    min_accuracy: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_drop_points": self.max_drop_points,
            "alpha": self.alpha,
            "min_accuracy": self.min_accuracy,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "suite rule") -> SuiteRule:
        unknown = sorted(set(raw) - {"max_drop_points", "alpha", "min_accuracy"})
        if unknown:
            raise ConfigError(
                f"unknown rule field {unknown[0]!r}",
                hint="allowed: max_drop_points, alpha, min_accuracy",
                source=source,
            )
        drop = _number(
            raw.get("max_drop_points", DEFAULT_MAX_DROP_POINTS), "max_drop_points", 0.0, 100.0, source
        )
        alpha = _number(raw.get("alpha", DEFAULT_ALPHA), "alpha", 1e-6, 0.5, source)
        accuracy = raw.get("min_accuracy")
        if accuracy is not None:
            accuracy = _number(accuracy, "min_accuracy", 0.0, 1.0, source)
        return cls(max_drop_points=drop, alpha=alpha, min_accuracy=accuracy)


def _number(value: Any, name: str, low: float, high: float, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number", source=source, field=name)
    if not low <= value <= high:
        raise ConfigError(
            f"{name} must be between {low:g} and {high:g}, got {value:g}", source=source, field=name
        )
    return float(value)


def parse_suite_case(obj: Mapping[str, Any], source: str, line: int) -> SuiteCase:
    """One suite case, validated: the smoke-case fields plus `origin` and `must_pass`."""
    size = len(json.dumps(obj, ensure_ascii=False).encode())
    if size > MAX_CASE_BYTES:
        raise ConfigError(
            f"case is {size:,} bytes; at most {MAX_CASE_BYTES:,}",
            hint="keep cases to what the model sees; long documents belong in a dataset",
            source=source,
            line=line,
        )
    origin = obj.get("origin")
    if origin is not None and (
        not isinstance(origin, str) or len(origin) > ORIGIN_MAX or not origin.isprintable()
    ):
        raise ConfigError(
            f"origin must be one printable line of at most {ORIGIN_MAX} characters",
            source=source,
            line=line,
            field="origin",
        )
    must_pass = obj.get("must_pass", False)
    if not isinstance(must_pass, bool):
        raise ConfigError("must be true or false", source=source, line=line, field="must_pass")
    case = parse_case(obj, source, line, more_keys=SUITE_KEYS)
    return SuiteCase(case=case, origin=origin, must_pass=must_pass)


def parse_suite_jsonl(text: str, source: str = "<suite>") -> list[SuiteCase]:
    """Parse a JSONL suite; every error names the file, the line and the field."""
    return parse_suite_objects(json_lines(text, source, SUITE_HINT), source)


def parse_suite_objects(numbered: Iterable[tuple[int, Any]], source: str) -> list[SuiteCase]:
    """Validate (line, object) pairs as one suite: unique ids, at least one case, at most MAX_CASES."""
    cases: list[SuiteCase] = []
    seen: dict[str, int] = {}
    for number, obj in numbered:
        if not isinstance(obj, dict):
            raise ConfigError(
                f"each case must be a JSON object, found {type(obj).__name__}", source=source, line=number
            )
        case = parse_suite_case(obj, source, number)
        check_unique_id(case.id, number, seen, source)
        cases.append(case)
        if len(cases) > MAX_CASES:
            raise ConfigError(
                f"more than {MAX_CASES:,} cases",
                hint="split the suite by purpose (one per product area, one for regressions)",
                source=source,
            )
    if not cases:
        raise ConfigError("no cases found", hint=SUITE_HINT, source=source)
    return cases


def stored_cases(cases: Sequence[Mapping[str, Any]], source: str) -> list[SuiteCase]:
    """A stored suite version's cases, validated again (the store is an input like any other)."""
    return parse_suite_objects(enumerate(cases, start=1), source)
