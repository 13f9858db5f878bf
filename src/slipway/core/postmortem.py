"""What the store hands a postmortem: a version's traffic in counts, and its labelled answers.

Plain records, shared by the store (which reads them) and `analysis.postmortem`
(which judges them), neither of which may import the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServedCounts:
    """What one version served in a window: per category (requests, the slot's errors), and to whom."""

    #: {category: (requests, errors)}; errors are the slot's own (not clients', not the gateway's).
    per_category: Mapping[str, tuple[int, int]]
    #: Distinct sticky keys (users or sessions) among the requests.
    sticky_keys: int
    first_at: float | None
    last_at: float | None

    @property
    def requests(self) -> int:
        return sum(n for n, _ in self.per_category.values())

    @property
    def errors(self) -> int:
        return sum(e for _, e in self.per_category.values())


@dataclass(frozen=True, slots=True)
class LabelledAnswer:
    """A request with a ground-truth label: what the version answered, and what it should have."""

    request_id: str
    started_at: float
    category: str
    #: The first characters of the answer (what the correctness rule reads).
    answer: str
    label: str
    #: Ended without an error or abort; an answer that never completed is not scored.
    completed: bool
    sticky_key: str | None = None
