"""From a store window to an ArmSample: answers checked, counts packaged (pure part of the store source)."""

from __future__ import annotations

from slipway.analysis.output_checks import DenyList, NonEmpty
from slipway.analysis.sources.store import sample_from_window
from slipway.core.arms import UNCATEGORIZED, ArmWindow, WindowTotals


def test_a_window_becomes_a_sample() -> None:
    window = ArmWindow(
        slot="green",
        since=10.0,
        until=20.0,
        totals=WindowTotals(requests=9, errors=2, completed=6, streams=4, aborted_streams=1),
        category_requests={"billing": 6, UNCATEGORIZED: 3},
        sampled_from=6,
        latency_ms=[100.0, 120.0, 140.0],
        ttft_ms=[20.0, None, 30.0],
        output_chars=[7, 400, 0],
        output_heads=["billing", "as an AI language model I cannot" + "." * 20, ""],
        accuracy={"billing": (2, 1), UNCATEGORIZED: (1, 1)},
        rated=5,
        satisfied=4,
    )
    s = sample_from_window(window, (NonEmpty(), DenyList(("as an ai language model",))))
    assert (s.slot, s.requests, s.errors, s.streams, s.aborted_streams) == ("green", 9, 2, 4, 1)
    assert s.latency_ms.tolist() == [100.0, 120.0, 140.0]
    assert s.ttft_ms.tolist() == [20.0, 30.0]
    assert s.output_chars.tolist() == [7.0, 400.0, 0.0]
    assert (s.checked_outputs, s.invalid_outputs) == (3, 2)
    assert dict(s.invalid_by_check) == {"empty": 1, "deny-list": 1}
    assert {c: (v.n, v.correct) for c, v in s.per_category.items()} == {
        "billing": (2, 1),
        UNCATEGORIZED: (1, 1),
    }
    assert (s.rated, s.satisfied, s.sampled_from) == (5, 4, 6)
    assert (s.since, s.until) == (10.0, 20.0)
    assert dict(s.category_requests) == {"billing": 6, UNCATEGORIZED: 3}
