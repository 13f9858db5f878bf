"""What the store reports about one slot over one time window: the raw material of a canary check.

The store computes what SQL computes well (counts, a uniform random
subsample, feedback merged per request) and returns plain values; the
statistics and the output checks are `analysis`'s business
(`analysis.sources.store` turns an `ArmWindow` into an `analysis.samples.ArmSample`).

Rules shared by every implementation:

* A window is [since, until) on `RequestRecord.started_at`.
* An *error* is status >= 400 or an error recorded, except the errors in
  `records.NOT_THE_SLOTS_FAULT` (a client hanging up, the gateway's own
  overload or fault: not the slot's failure). An *aborted stream* is a
  streaming request that ended early for any reason but those.
* A *completed* request has status < 400, no error and was not aborted.
* The subsample is uniform over completed requests and nearly nested from one
  look to the next: a request is kept when its (random) id falls below a
  bound that halves only as the window doubles, and at most `sample_cap` are
  returned, those with the smallest ids. A later look therefore keeps the
  earlier look's sample except the largest ids, instead of drawing a new one
  (the sequential tests assume each look's data extends the last's).
  `sampled_from` says how many completed requests there were.
* Feedback is merged per request field by field (a later non-null value wins),
  like `RecordStore.latest_feedback`; a labelled answer is scored with
  `core.labels.matches_label`, the rule the smoke tests use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

#: The category key for requests that carried none.
UNCATEGORIZED = "(none)"


@dataclass(frozen=True, slots=True)
class WindowTotals:
    requests: int = 0
    errors: int = 0
    completed: int = 0
    streams: int = 0
    aborted_streams: int = 0


@dataclass(frozen=True, slots=True)
class ArmWindow:
    slot: str
    since: float
    until: float
    totals: WindowTotals = WindowTotals()
    #: Every request in the window per category (`UNCATEGORIZED` for none).
    category_requests: Mapping[str, int] = field(default_factory=dict)
    #: Completed requests the subsample below was drawn from.
    sampled_from: int = 0
    #: The subsample, column by column (parallel sequences).
    latency_ms: Sequence[float] = ()
    #: None for requests that were not streamed.
    ttft_ms: Sequence[float | None] = ()
    output_chars: Sequence[int] = ()
    output_heads: Sequence[str] = ()
    #: Per category: completed requests with a ground-truth label (the latest one), and how many
    #: answers matched it (`core.labels.matches_label`). An errored or aborted request has no
    #: answer to score and is not counted.
    accuracy: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    #: Requests whose merged feedback says whether the user was satisfied, and how many were.
    rated: int = 0
    satisfied: int = 0


class ArmWindowReader(Protocol):
    async def read_arm_window(
        self, slot: str, *, since: float, until: float, sample_cap: int = 10_000
    ) -> ArmWindow:
        """Counts, a uniform subsample of at most `sample_cap` completed requests, and merged feedback."""
        ...

    async def read_arm_windows(
        self, slots: Sequence[str], *, since: float, until: float, sample_cap: int = 10_000
    ) -> dict[str, ArmWindow]:
        """`read_arm_window` for several slots over one window (a check's two arms), in one go."""
        ...
