"""Request records and feedback: batch writes, read-back, counts, late labels."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from tests.integration.store.builders import T0, record

from slipway.core.records import Feedback
from slipway.store import Store, default_store_url, open_store


async def test_a_batch_of_10k_records_reads_back_exactly(store: Store) -> None:
    records = [record(i, slot="green" if i % 10 == 0 else "blue") for i in range(10_000)]

    await store.write_records(records)

    for i in (0, 1, 2, 3, 7, 4_999, 9_999):
        assert await store.get_request(records[i].request_id) == records[i]
    assert await store.request_counts(since=0) == {
        "blue": {"total": 9_000, "errors": 0},
        "green": {"total": 1_000, "errors": 0},
    }
    green = await store.list_requests(since=T0, slot="green")
    assert green == [r for r in records if r.slot == "green"]
    window = await store.list_requests(since=T0 + 1.0, until=T0 + 2.0)
    assert [r.request_id for r in window] == [r.request_id for r in records[1_000:2_000]]
    assert len(await store.list_requests(since=0, limit=5)) == 5


async def test_sqlite_writes_well_over_20k_records_per_second(tmp_path: Path) -> None:
    """The floor the recorder's batching relies on for the embedded store (GW4)."""
    records = [record(i) for i in range(40_000)]
    store = await open_store(default_store_url(tmp_path))
    try:
        started = time.perf_counter()
        for start in range(0, len(records), 5_000):
            await store.write_records(records[start : start + 5_000])
        rate = len(records) / (time.perf_counter() - started)
    finally:
        await store.close()

    assert rate >= 20_000, f"{rate:.0f} rows/s"


async def test_rewriting_a_batch_skips_rows_already_written(store: Store) -> None:
    """A recorder retrying a batch whose commit did land must not fail on duplicates forever."""
    await store.write_records([record(i) for i in range(100)])

    retry = [record(i) for i in range(50, 150)] + [record(149)]
    await store.write_records(retry)

    assert await store.request_counts(since=0) == {"blue": {"total": 150, "errors": 0}}


async def test_an_empty_batch_is_a_no_op(store: Store) -> None:
    await store.write_records([])
    assert await store.request_counts(since=0) == {}


async def test_counts_are_per_slot_since_a_time_with_errors_by_status_or_error(store: Store) -> None:
    await store.write_records(
        [
            record(1, slot="blue", started_at=T0 - 10, status=500),  # before the window
            record(2, slot="blue", started_at=T0, status=200),
            record(3, slot="blue", started_at=T0 + 1, status=429),
            replace(record(4, slot="blue", started_at=T0 + 2, status=200), error="stream interrupted"),
            record(5, slot="green", started_at=T0 + 3, status=399),
            record(6, slot="green", started_at=T0 + 4, status=400),
        ]
    )

    assert await store.request_counts(since=T0) == {
        "blue": {"total": 3, "errors": 2},
        "green": {"total": 2, "errors": 1},
    }


async def test_nullable_fields_and_defaults_round_trip(store: Store) -> None:
    bare = replace(
        record(1), category=None, sticky_key=None, ttft_ms=None, output_tokens=None, output_head=""
    )
    await store.write_records([bare])

    assert await store.get_request(bare.request_id) == bare
    assert await store.get_request("nope") is None


async def test_feedback_on_an_unknown_request_is_refused(store: Store) -> None:
    assert await store.add_feedback(Feedback(request_id="nope", at=T0, satisfied=True)) is False
    assert await store.latest_feedback("nope") is None


async def test_the_latest_feedback_wins(store: Store) -> None:
    await store.write_records([record(1)])
    rid = record(1).request_id
    assert await store.request_exists(rid)
    assert not await store.request_exists("req-unknown")

    assert await store.add_feedback(Feedback(request_id=rid, at=T0 + 5, satisfied=False))
    assert await store.add_feedback(Feedback(request_id=rid, at=T0 + 9, label="refund", score=0.25))
    assert await store.add_feedback(Feedback(request_id=rid, at=T0 + 7, satisfied=True))

    # Field by field: the latest value of each wins; a later post without a field keeps the earlier one.
    assert await store.latest_feedback(rid) == Feedback(
        request_id=rid, at=T0 + 9, satisfied=True, label="refund", score=0.25
    )


async def test_requests_with_feedback_pairs_each_with_its_latest_label_in_a_window(store: Store) -> None:
    await store.write_records([record(i) for i in range(5)])
    ids = [record(i).request_id for i in range(5)]
    await store.add_feedback(Feedback(request_id=ids[1], at=T0 + 50, label="billing"))
    await store.add_feedback(Feedback(request_id=ids[1], at=T0 + 60, label="shipping"))
    await store.add_feedback(Feedback(request_id=ids[3], at=T0 + 50, satisfied=True))
    await store.add_feedback(Feedback(request_id=ids[4], at=T0 + 50, label="account"))

    pairs = await store.requests_with_feedback(since=record(0).started_at, until=record(4).started_at)
    await store.add_feedback(Feedback(request_id=ids[1], at=T0 + 70, satisfied=False))
    pairs = await store.requests_with_feedback(since=record(0).started_at, until=record(4).started_at)
    assert [(r.request_id, f.label, f.satisfied) for r, f in pairs] == [
        (ids[1], "shipping", False),
        (ids[3], None, True),
    ]
    assert pairs[0][0] == record(1)


async def test_a_client_hanging_up_is_not_counted_as_the_slots_error(store: Store) -> None:
    gone = replace(record(1), error="client_disconnected", aborted=True)
    broken = replace(record(2), error="stream_interrupted", aborted=True)
    await store.write_records([record(0), gone, broken])
    assert await store.request_counts(since=T0 - 1) == {"blue": {"total": 3, "errors": 1}}
