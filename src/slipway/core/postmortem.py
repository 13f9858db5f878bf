"""What the store hands a postmortem: a version's traffic in counts, and its labelled answers.

Plain records, shared by the store (which reads them) and `analysis.postmortem`
(which judges them), neither of which may import the other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from slipway.core.errors import ValidationError


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


#: How far ahead a retry may be planned.
RETRY_HORIZON_S = 366 * 86_400.0


def parse_retry_at(text: str, now: float) -> float:
    """When the operator means to retry, as wall-clock seconds: an ISO date (midnight UTC) or date and time.

    A time without a zone is UTC. It must lie ahead, within a year: a retry
    date in the past is a typo, and one years away is not a plan.
    """
    value = text.strip()
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            f"retry date {value[:40]!r} is not an ISO date", hint="e.g. 2026-12-20 or 2026-12-20T09:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    at = parsed.timestamp()
    if not now < at <= now + RETRY_HORIZON_S:
        raise ValidationError(
            f"retry date {parsed:%Y-%m-%d %H:%M} UTC is not ahead within a year",
            hint="plan the next attempt for a date after today, with the fixes applied",
        )
    return at
