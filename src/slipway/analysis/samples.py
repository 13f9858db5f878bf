"""What one arm of a canary did in one window: the numbers `decide.judge` compares.

An *arm* is a slot (production's or the candidate's) and a *window* is the
same time span for both arms — the baseline is production traffic in the same
window, never history. For a canary the window is cumulative, from the start
of the canary to the current check: the sequential tests in `stats` are built
for growing samples and stay valid however often they are looked at.

Interface (the controller codes against it):

    ArmSample(slot, requests, errors, streams=0, aborted_streams=0,
              latency_ms=(), ttft_ms=(), output_chars=(), sampled_from=None,
              checked_outputs=0, invalid_outputs=0, invalid_by_check={},
              rated=0, satisfied=0, per_category={}, category_requests={},
              since=0.0, until=0.0)
    CategoryCount(n, correct)
    ArmSample.pooled(samples)  -> ArmSample  # every slot together, e.g. all traffic

Counting rules (the store source, `sources.store.arm_sample`, applies them):

* `requests`: every request the slot started in the window.
* `errors`: status >= 400, or an error recorded — except a client hanging up
  or the gateway's own overload or fault (`records.NOT_THE_SLOTS_FAULT`):
  neither is the slot's failure.
* `streams` / `aborted_streams`: streaming requests, and those that ended early
  for a reason other than the client leaving (the backend died mid-stream).
* `latency_ms`, `ttft_ms`, `output_chars`: of *completed* requests (no error,
  not aborted), possibly a uniform random subsample (at most `latency_cap`
  per arm, 10,000 by default) of the `sampled_from` completed requests in
  the window. A uniform subsample estimates quantiles and spreads without
  bias; it only widens the intervals. `ttft_ms` has streaming requests only.
* `checked_outputs` / `invalid_outputs`: the same subsample's answers run
  through the output checks (`output_checks`); `invalid_by_check` names
  which check failed how often.
* `rated` / `satisfied`: requests with satisfaction feedback, and how many
  of them were satisfied (feedback merged field by field, latest wins).
* `per_category`: completed requests with a ground-truth label, per category
  (`UNCATEGORIZED` when the request had none); `correct` counts answers whose
  label (`core.labels.answer_label` of the recorded output head: the first
  word, or the JSON `label` field) equals the normalized ground truth.
* `category_requests`: every request per category, for the blast radius.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from slipway.core.arms import UNCATEGORIZED

__all__ = ["UNCATEGORIZED", "ArmSample", "CategoryCount", "FloatArray"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class CategoryCount:
    """Labelled answers in one category, and how many were right."""

    n: int
    correct: int

    def __post_init__(self) -> None:
        if not 0 <= self.correct <= self.n:
            raise ValueError(f"correct must be between 0 and n, got {self.correct} of {self.n}")

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None


def _frozen_array(values: Any) -> FloatArray:
    array = np.array(values, dtype=np.float64).reshape(-1)
    array.setflags(write=False)
    return array


def _concatenate(arrays: list[FloatArray]) -> FloatArray:
    return _frozen_array(np.concatenate(arrays) if arrays else ())


def _frozen_map(values: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(values))


@dataclass(frozen=True, slots=True, eq=False)
class ArmSample:
    """One arm (slot) in one window; see the module docstring for what each count means."""

    slot: str
    requests: int
    errors: int
    streams: int = 0
    aborted_streams: int = 0
    latency_ms: FloatArray = field(default_factory=lambda: _frozen_array(()))
    ttft_ms: FloatArray = field(default_factory=lambda: _frozen_array(()))
    output_chars: FloatArray = field(default_factory=lambda: _frozen_array(()))
    #: Completed requests the latency/output subsample was drawn from (None: it is all of them).
    sampled_from: int | None = None
    checked_outputs: int = 0
    invalid_outputs: int = 0
    invalid_by_check: Mapping[str, int] = field(default_factory=dict)
    rated: int = 0
    satisfied: int = 0
    per_category: Mapping[str, CategoryCount] = field(default_factory=dict)
    category_requests: Mapping[str, int] = field(default_factory=dict)
    since: float = 0.0
    until: float = 0.0

    def __post_init__(self) -> None:
        for name in ("latency_ms", "ttft_ms", "output_chars"):
            object.__setattr__(self, name, _frozen_array(getattr(self, name)))
        for name in ("invalid_by_check", "per_category", "category_requests"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        problems = []
        if not 0 <= self.errors <= self.requests:
            problems.append(f"errors ({self.errors}) must be between 0 and requests ({self.requests})")
        if not 0 <= self.aborted_streams <= self.streams:
            problems.append(f"aborted_streams ({self.aborted_streams}) exceeds streams ({self.streams})")
        if not 0 <= self.satisfied <= self.rated:
            problems.append(f"satisfied ({self.satisfied}) exceeds rated ({self.rated})")
        if not 0 <= self.invalid_outputs <= self.checked_outputs:
            problems.append(
                f"invalid_outputs ({self.invalid_outputs}) exceeds checked_outputs ({self.checked_outputs})"
            )
        if problems:
            raise ValueError(f"ArmSample for slot {self.slot!r}: " + "; ".join(problems))

    @property
    def labelled(self) -> CategoryCount:
        """Every labelled answer, all categories together."""
        return CategoryCount(
            sum(c.n for c in self.per_category.values()),
            sum(c.correct for c in self.per_category.values()),
        )

    @classmethod
    def pooled(cls, samples: Iterable[ArmSample], *, slot: str = "(all)") -> ArmSample:
        """Several arms as one: counts add up, value samples are concatenated.

        For the blast radius ("all traffic") and for reports; never compare a
        pooled sample with one of its parts.
        """
        parts = list(samples)
        categories: dict[str, CategoryCount] = {}
        traffic: dict[str, int] = {}
        invalid: dict[str, int] = {}
        for part in parts:
            for name, count in part.per_category.items():
                old = categories.get(name, CategoryCount(0, 0))
                categories[name] = CategoryCount(old.n + count.n, old.correct + count.correct)
            for name, n in part.category_requests.items():
                traffic[name] = traffic.get(name, 0) + n
            for name, n in part.invalid_by_check.items():
                invalid[name] = invalid.get(name, 0) + n
        sampled = [p.sampled_from if p.sampled_from is not None else len(p.latency_ms) for p in parts]
        return cls(
            slot=slot,
            requests=sum(p.requests for p in parts),
            errors=sum(p.errors for p in parts),
            streams=sum(p.streams for p in parts),
            aborted_streams=sum(p.aborted_streams for p in parts),
            latency_ms=_concatenate([p.latency_ms for p in parts]),
            ttft_ms=_concatenate([p.ttft_ms for p in parts]),
            output_chars=_concatenate([p.output_chars for p in parts]),
            sampled_from=sum(sampled),
            checked_outputs=sum(p.checked_outputs for p in parts),
            invalid_outputs=sum(p.invalid_outputs for p in parts),
            invalid_by_check=invalid,
            rated=sum(p.rated for p in parts),
            satisfied=sum(p.satisfied for p in parts),
            per_category=categories,
            category_requests=traffic,
            since=min((p.since for p in parts), default=0.0),
            until=max((p.until for p in parts), default=0.0),
        )
