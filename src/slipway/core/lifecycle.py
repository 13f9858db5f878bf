"""What the store keeps of the work around a rollout: suites, their runs, checklists and drills.

Each is a row with the few fields the store indexes and lists by, plus the
body its feature owns (`result`, `items`, `cases`): the evaluation, checklist
and drill modules read and write their own shapes there, so the store does
not change each time a report gains a field.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class RequestBody(Mapping[str, Any]):
    """A request body kept as the JSON the client sent, read as a mapping on demand.

    The gateway keeps bodies of every request until their batch is written;
    held as parsed dicts, those young containers outlived the garbage
    collector's first generations and made its full collections cost the
    gateway a fifth of its CPU (docs/benchmarks.md). Bytes are not tracked,
    and the store writes them as they are.
    """

    __slots__ = ("_parsed", "raw")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self._parsed: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._parsed is None:
            parsed = json.loads(self.raw)
            self._parsed = parsed if isinstance(parsed, dict) else {}
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def __repr__(self) -> str:
        return f"RequestBody({self.raw[:60]!r}{'...' if len(self.raw) > 60 else ''})"


@dataclass(frozen=True, slots=True)
class RequestInput:
    """What one request asked: its flattened text (bounded), user turns, and the body if small enough."""

    request_id: str
    input_text: str
    turns: int
    #: The request body as sent, for replaying it as an evaluation case; None when too large.
    #: The gateway hands a `RequestBody` (the JSON it got); the store reads back a dict.
    request: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SuiteVersion:
    """One version of an evaluation suite: its cases (as JSON objects) and its pass rule."""

    name: str
    version: int
    created_at: float
    actor: str
    note: str
    rule: Mapping[str, Any] = field(default_factory=dict)
    cases: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True, slots=True)
class EvalRunRecord:
    """One run of a suite version against a slot, paired against another when `against` is set."""

    id: str
    at: float
    suite: str
    suite_version: int
    slot: str
    slot_version: str
    passed: bool
    actor: str
    result: Mapping[str, Any]
    against: str | None = None
    against_version: str | None = None
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class EvalProgress:
    """How far an evaluation has got: answers in of all it asks for, in suite `index` of `suites`."""

    suite: str
    index: int
    suites: int
    answered: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "index": self.index,
            "suites": self.suites,
            "answered": self.answered,
            "total": self.total,
        }


@dataclass(frozen=True, slots=True)
class EvalPlan:
    """An evaluation checked and ready to run: the suite versions, and the slots they go to."""

    versions: tuple[SuiteVersion, ...]
    slot: str
    against: str | None
    actor: str
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChecklistRecord:
    """A pre-deployment checklist for one version on one slot: each item's outcome and evidence."""

    id: str
    at: float
    version: str
    slot: str
    actor: str
    passed: bool
    items: Sequence[Mapping[str, Any]]
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True)
class DrillRecord:
    """A rollback drill: when, who, which slot, whether it passed, and what it measured."""

    id: str
    at: float
    actor: str
    slot: str
    passed: bool
    result: Mapping[str, Any]
