"""ArmSample: counts that cannot contradict each other, frozen values, pooling."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from slipway.analysis.samples import ArmSample, CategoryCount


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"requests": 10, "errors": 11}, "errors"),
        ({"requests": 10, "errors": 0, "streams": 2, "aborted_streams": 3}, "aborted_streams"),
        ({"requests": 10, "errors": 0, "rated": 2, "satisfied": 3}, "satisfied"),
        ({"requests": 10, "errors": 0, "checked_outputs": 1, "invalid_outputs": 2}, "invalid_outputs"),
    ],
)
def test_contradictory_counts_are_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ArmSample(slot="green", **fields)
    with pytest.raises(ValueError, match="between 0 and n"):
        CategoryCount(3, 4)


def test_values_are_frozen_copies() -> None:
    latencies = [100.0, 200.0]
    sample = ArmSample(
        slot="green",
        requests=2,
        errors=0,
        # A list, not the declared array, on purpose: the caller's mutable list must be copied.
        latency_ms=latencies,  # type: ignore[arg-type]
        per_category={"a": CategoryCount(2, 1)},
    )
    latencies.append(1.0)
    assert len(sample.latency_ms) == 2
    with pytest.raises(ValueError, match="read-only"):
        sample.latency_ms[0] = 5.0
    with pytest.raises(TypeError):
        sample.per_category["b"] = CategoryCount(1, 1)  # type: ignore[index]
    assert sample.per_category["a"].accuracy == 0.5 and CategoryCount(0, 0).accuracy is None


def test_pooled_adds_counts_and_concatenates_values() -> None:
    a = ArmSample(
        slot="blue",
        requests=10,
        errors=1,
        latency_ms=np.array([1.0, 2.0]),
        per_category={"x": CategoryCount(4, 3)},
        category_requests={"x": 6, "y": 4},
        invalid_by_check={"empty": 1},
        checked_outputs=2,
        invalid_outputs=1,
        since=5.0,
        until=10.0,
    )
    b = ArmSample(
        slot="green",
        requests=5,
        errors=2,
        latency_ms=np.array([3.0]),
        per_category={"x": CategoryCount(2, 2), "z": CategoryCount(1, 0)},
        category_requests={"x": 5},
        since=4.0,
        until=9.0,
    )
    p = ArmSample.pooled([a, b])
    assert (p.slot, p.requests, p.errors) == ("(all)", 15, 3)
    assert np.array_equal(p.latency_ms, [1.0, 2.0, 3.0])
    assert p.per_category == {"x": CategoryCount(6, 5), "z": CategoryCount(1, 0)}
    assert p.category_requests == {"x": 11, "y": 4}
    assert p.labelled == CategoryCount(7, 5)
    assert (p.since, p.until, p.invalid_by_check) == (4.0, 10.0, {"empty": 1})
    assert ArmSample.pooled([]).requests == 0
