"""What each request asked, written by the recorder with its record, on SQLite and PostgreSQL.

An input is stored in its record's own transaction: never one without the
other, a batch retried after an uncertain commit is not an error, and a
value the database refuses costs that value, never the record or its
neighbours' inputs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from tests.integration.store.builders import record

from slipway.core.errors import StoreRefusedData
from slipway.core.lifecycle import RequestInput
from slipway.gateway.recorder import Recorder
from slipway.store import Store


def asked(i: int) -> RequestInput:
    body = {"model": "m", "messages": [{"role": "user", "content": f"refund for invoice {i}?"}]}
    return RequestInput(record(i).request_id, f"refund for invoice {i}?", 1 + i % 3, body if i % 2 else None)


async def test_inputs_written_by_the_recorder_are_read_back_with_their_records(store: Store) -> None:
    recorder = Recorder(store, instance="test", batch_size=7, flush_interval_s=0.01)
    await recorder.open()
    recorder.start()
    for i in range(30):
        recorder.record(record(i), asked(i) if i % 5 else None)
    assert await recorder.written(timeout=60)
    await recorder.close()

    ids = [record(i).request_id for i in range(30)]
    found = await store.request_inputs(ids)
    assert found == {record(i).request_id: asked(i) for i in range(30) if i % 5}
    assert (await store.request_counts(since=0))["blue"]["total"] == 30


async def test_a_retried_batch_is_not_an_error_and_stores_each_row_once(store: Store) -> None:
    records = [record(i) for i in range(5)]
    inputs = [asked(i) for i in range(5)]
    await store.write_records(records[:3], inputs=inputs[:3])
    # The first commit landed but its answer was lost: the writer sends the whole batch again.
    await store.write_records(records, inputs=inputs, checkpoint=("recorder.heartbeat.test", "{}"))

    assert await store.request_inputs([r.request_id for r in records]) == {i.request_id: i for i in inputs}
    assert (await store.request_counts(since=0))["blue"]["total"] == 5


async def test_a_refused_record_takes_its_input_with_it(store: Store) -> None:
    bad = replace(record(1), output_tokens=2**64)
    with pytest.raises(StoreRefusedData):
        await store.write_records([bad, record(2)], inputs=[asked(1), asked(2)])
    # One transaction: neither the records nor their inputs were stored.
    assert await store.request_inputs([record(1).request_id, record(2).request_id]) == {}
    assert await store.get_request(record(2).request_id) is None


async def test_an_input_the_database_refuses_costs_its_body_never_the_record(
    store: Store, store_url: str
) -> None:
    recorder = Recorder(store, instance="test", batch_size=100, flush_interval_s=0.01)
    await recorder.open()
    recorder.start()
    nul = RequestInput(record(3).request_id, "nul \x00 inside", 2, {"messages": [{"content": "nul \x00"}]})
    for i in range(10):
        recorder.record(record(i), nul if i == 3 else asked(i))
    assert await recorder.written(timeout=60)
    health = recorder.health()
    await recorder.close()

    assert health["lost"] == {} and (await store.request_counts(since=0))["blue"]["total"] == 10
    found = await store.request_inputs([record(i).request_id for i in range(10)])
    assert {k: v for k, v in found.items() if k != nul.request_id} == {
        asked(i).request_id: asked(i) for i in range(10) if i != 3
    }
    if store_url.startswith("postgresql"):
        # PostgreSQL text cannot hold NUL: the text loses it and the body is dropped; the rest stays.
        assert health["sanitised"] == 1
        assert found[nul.request_id] == RequestInput(nul.request_id, "nul  inside", 2, None)
    else:
        assert health["sanitised"] == 0 and found[nul.request_id] == nul
