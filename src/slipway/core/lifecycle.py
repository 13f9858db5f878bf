"""What the store keeps of the work around a rollout: suites, their runs, checklists and drills.

Each is a row with the few fields the store indexes and lists by, plus the
body its feature owns (`result`, `items`, `cases`): the evaluation, checklist
and drill modules read and write their own shapes there, so the store does
not change each time a report gains a field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class RequestInput:
    """What one request asked: its flattened text (bounded), user turns, and the body if small enough."""

    request_id: str
    input_text: str
    turns: int
    #: The request body as sent, for replaying it as an evaluation case; None when too large.
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
