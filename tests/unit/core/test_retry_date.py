"""When to retry: an ISO date ahead within a year, or a refusal that says what to write."""

from __future__ import annotations

import pytest

from slipway.core.errors import ValidationError
from slipway.core.postmortem import parse_retry_at

NOW = 1_765_000_000.0  # 2025-12-06 05:46:40 UTC


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2025-12-20", 1_766_188_800.0),
        ("2025-12-20T09:00", 1_766_221_200.0),
        ("2025-12-20T09:00Z", 1_766_221_200.0),
        (" 2025-12-20T10:00+01:00 ", 1_766_221_200.0),
    ],
)
def test_a_date_or_date_and_time_ahead_is_taken_in_utc(text: str, at: float) -> None:
    assert parse_retry_at(text, NOW) == at


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("next tuesday", "retry date 'next tuesday' is not an ISO date"),
        ("2025-12-01", "retry date 2025-12-01 00:00 UTC is not ahead within a year"),
        ("2027-06-01", "retry date 2027-06-01 00:00 UTC is not ahead within a year"),
    ],
)
def test_anything_else_is_refused_with_the_fix(text: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_retry_at(text, NOW)
    assert caught.value.message == message and caught.value.hint
