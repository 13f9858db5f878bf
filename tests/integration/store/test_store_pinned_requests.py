"""Requests a client pinned to a slot are kept, but no judgment reads them.

Without this, anyone who can reach the data plane could pin a few hundred
requests to a canary slot (X-Slipway-Slot) and feed them wrong labels, or
pin easy ones to make a bad candidate look good; the canary, the bake, drift
and the postmortem would judge the slot by traffic the route table never sent.
"""

from __future__ import annotations

from dataclasses import replace

from tests.integration.store.builders import T0, record

from slipway.core.records import Feedback, RequestRecord
from slipway.store import Store


def routed_and_pinned() -> tuple[list[RequestRecord], list[RequestRecord]]:
    routed = [
        replace(record(i, slot="green", started_at=T0 + i), category="billing", aborted=False)
        for i in range(30)
    ]
    pinned = [
        replace(
            record(100 + i, slot="green", started_at=T0 + 0.5 + i),
            category="shipping",
            aborted=False,
            status=500,
            error="upstream_500",
            pinned=True,
        )
        for i in range(20)
    ]
    return routed, pinned


async def test_pinned_requests_are_kept_with_their_mark(store: Store) -> None:
    routed, pinned = routed_and_pinned()
    await store.write_records(routed + pinned)
    kept = await store.get_request(pinned[0].request_id)
    assert kept is not None and kept.pinned and kept.slot == "green"
    plain = await store.get_request(routed[0].request_id)
    assert plain is not None and not plain.pinned


async def test_no_window_a_judgment_reads_counts_a_pinned_request(store: Store) -> None:
    routed, pinned = routed_and_pinned()
    await store.write_records(routed + pinned)
    for rec in routed + pinned:
        await store.add_feedback(Feedback(request_id=rec.request_id, at=T0 + 500, label="nonsense"))

    window = await store.read_arm_window("green", since=T0 - 1, until=T0 + 1000)
    assert window.totals.requests == len(routed)
    assert window.totals.errors == 0
    assert window.category_requests == {"billing": len(routed)}
    assert set(window.accuracy) == {"billing"} and window.accuracy["billing"][0] == len(routed)
    assert len(window.latency_ms) == len(routed)

    mix = await store.input_mix_latest("green", 1000)
    assert mix.requests == len(routed) and dict(mix.counts["category"]) == {"billing": len(routed)}
    since = await store.input_window_since("green", T0 - 1, 1000)
    assert since.requests == len(routed)

    served = await store.served_by("green", None, since=T0 - 1)
    assert sum(n for n, _ in served.per_category.values()) == len(routed)
    labelled = await store.labelled_answers("green", None, since=T0 - 1)
    assert {a.request_id for a in labelled} == {r.request_id for r in routed}
    assert await store.category_counts(None, since=T0 - 1, until=T0 + 1000) == {"billing": len(routed)}
