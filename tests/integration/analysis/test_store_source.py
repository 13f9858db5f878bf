"""Arm samples read from a real store (SQLite and PostgreSQL): the counting rules, end to end."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from slipway.analysis.decide import Action, judge
from slipway.analysis.sources.store import arm_sample, arm_samples
from slipway.core.arms import UNCATEGORIZED
from slipway.core.records import Feedback, RequestRecord
from slipway.store import Store
from slipway.store.repositories import arm_windows

T0 = 1_700_000_000.0


def rec(
    i: int,
    *,
    slot: str = "green",
    category: str | None = "billing",
    status: int = 200,
    error: str | None = None,
    aborted: bool = False,
    stream: bool = False,
    head: str = "billing",
    chars: int | None = None,
    latency: float = 100.0,
    at: float | None = None,
) -> RequestRecord:
    return RequestRecord(
        request_id=f"{slot}-{i:05d}",
        started_at=T0 + i if at is None else at,
        slot=slot,
        version="v2.2" if slot == "green" else "v2.1",
        api="openai.chat",
        stream=stream,
        route_version=1,
        category=category,
        status=status,
        error=error,
        latency_ms=latency,
        ttft_ms=latency / 4 if stream else None,
        output_chars=len(head) if chars is None else chars,
        output_head=head,
        aborted=aborted,
    )


async def test_counts_follow_the_rules(store: Store) -> None:
    records = [
        rec(0),
        rec(1, category=None, head="shipping"),
        rec(2, status=502, error="upstream_502", head=""),
        rec(3, stream=True, aborted=True, error="client_disconnected"),  # the client left: not an error
        rec(4, stream=True, aborted=True, error="stream_interrupted"),  # the backend died mid-stream
        rec(5, stream=True, category="shipping", head="shipping"),
        rec(6, status=429, error=None, head=""),
        rec(7, at=T0 - 10),  # before the window
        rec(8, at=T0 + 1000),  # after the window
        rec(9, slot="blue"),  # another slot
        rec(10, head="", category="shipping"),  # completed, empty answer: invalid
    ]
    await store.write_records(records)
    s = await arm_sample(store, "green", T0, T0 + 100)
    assert (s.requests, s.errors, s.streams, s.aborted_streams) == (8, 3, 3, 1)
    assert s.sampled_from == 4  # 0, 1, 5 and 10: the client that left took its answer with it
    assert sorted(s.latency_ms.tolist()) == [100.0] * 4
    assert s.category_requests == {"billing": 5, "shipping": 2, UNCATEGORIZED: 1}
    assert (s.checked_outputs, s.invalid_outputs, dict(s.invalid_by_check)) == (4, 1, {"empty": 1})
    assert s.ttft_ms.tolist() == [25.0]
    assert (s.since, s.until, s.slot) == (T0, T0 + 100, "green")


async def test_the_gateways_own_failures_never_count_against_the_slot(store: Store) -> None:
    """Its overload (out of sockets), a fault in slipway: recorded, but not the candidate's errors."""
    records = [
        rec(0),
        rec(1, status=503, error="gateway_overloaded", head=""),
        rec(2, status=500, error="gateway_error", head=""),
        rec(3, stream=True, status=500, aborted=True, error="gateway_error", head="bi"),
        rec(4, status=502, error="backend_unavailable", head=""),  # the slot's own: counted
    ]
    await store.write_records(records)
    s = await arm_sample(store, "green", T0, T0 + 100)
    assert (s.requests, s.errors, s.streams, s.aborted_streams) == (5, 1, 1, 0)
    counts = await store.request_counts(since=T0)
    assert counts["green"] == {"total": 5, "errors": 1}


async def test_labels_and_satisfaction_merge_per_request(store: Store) -> None:
    await store.write_records(
        [
            rec(0, head="billing"),
            rec(1, head="Shipping."),
            rec(2, head='{"label": "billing"}', category="shipping"),
            rec(3, status=500, error="upstream_500", head=""),  # labelled but no answer: not scored
            rec(4, category=None, head="account"),
        ]
    )
    feedback = [
        Feedback("green-00000", T0 + 50, label="billing"),
        Feedback("green-00000", T0 + 60, satisfied=False),  # a later rating keeps the label
        Feedback("green-00001", T0 + 50, label="billing"),
        Feedback("green-00001", T0 + 70, label="shipping"),  # corrected later: correct after all
        Feedback("green-00002", T0 + 50, label="shipping", satisfied=True),
        Feedback("green-00003", T0 + 50, label="billing", satisfied=False),
        Feedback("green-00004", T0 + 50, label="account", satisfied=True),
        Feedback("green-00004", T0 + 40, satisfied=False),  # older: loses
    ]
    for item in feedback:
        assert await store.add_feedback(item)
    s = await arm_sample(store, "green", T0, T0 + 100)
    assert {c: (n.n, n.correct) for c, n in s.per_category.items()} == {
        "billing": (2, 2),
        "shipping": (1, 0),
        UNCATEGORIZED: (1, 1),
    }
    assert (s.rated, s.satisfied) == (4, 2)


@pytest.mark.parametrize("feedback_first", [True, False])
async def test_both_join_orders_read_the_same_feedback(
    store: Store, feedback_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.write_records([rec(i, head="billing" if i % 3 else "shipping") for i in range(60)])
    for i in range(0, 60, 2):
        assert await store.add_feedback(
            Feedback(f"green-{i:05d}", T0 + 100, label="billing", satisfied=i % 4 == 0)
        )
    monkeypatch.setattr(arm_windows, "_feedback_rows", lambda _: 0 if feedback_first else 10**9)
    s = await arm_sample(store, "green", T0, T0 + 100)
    assert s.per_category["billing"].n == 30
    assert s.per_category["billing"].correct == sum(1 for i in range(0, 60, 2) if i % 3)
    assert (s.rated, s.satisfied) == (30, 15)


async def test_the_subsample_is_capped_and_counts_stay_exact(store: Store) -> None:
    # The subsample is drawn by request id: random ones, like the gateway's.
    ids = random.Random(4)
    await store.write_records(
        [
            replace(rec(i, latency=float(i), at=T0 + i * 0.01), request_id=ids.randbytes(12).hex())
            for i in range(3000)
        ]
    )
    s = await arm_sample(store, "green", T0, T0 + 100, latency_cap=500)
    assert s.requests == 3000 and s.sampled_from == 3000
    assert len(s.latency_ms) == 500 and s.checked_outputs == 500
    assert len(set(s.latency_ms.tolist())) == 500
    # Uniform over the window: the mean of 0..2999 is 1499.5.
    assert 1200 < float(s.latency_ms.mean()) < 1800


async def test_many_categories_fall_back_to_one_group_by(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.write_records([rec(i, category=f"c{i % 7}" if i % 5 else None) for i in range(70)])
    skipped = await arm_sample(store, "green", T0, T0 + 100)
    monkeypatch.setattr(arm_windows, "MAX_SKIP_CATEGORIES", 3)
    grouped = await arm_sample(store, "green", T0, T0 + 100)
    assert dict(skipped.category_requests) == dict(grouped.category_requests)
    assert sum(grouped.category_requests.values()) == 70 and grouped.streams == skipped.streams


async def test_a_check_reads_both_arms_and_judges_them(store: Store) -> None:
    records = []
    for i in range(400):
        records.append(rec(i, slot="blue", at=T0 + i * 0.1, latency=100.0 + i % 17))
        bad = i % 10 < 4  # 40 % of the candidate's billing answers are wrong
        records.append(
            rec(
                i,
                slot="green",
                at=T0 + i * 0.1,
                latency=100.0 + i % 13,
                head="shipping" if bad else "billing",
            )
        )
    await store.write_records(records)
    for i in range(400):
        for slot in ("blue", "green"):
            assert await store.add_feedback(Feedback(f"{slot}-{i:05d}", T0 + 100, label="billing"))
    samples = await arm_samples(store, ["blue", "green", "blue"], T0, T0 + 100)
    assert list(samples) == ["blue", "green"]
    v = judge(samples["blue"], samples["green"])
    assert v.action is Action.ROLLBACK, v.reason
    assert "accuracy[billing]" in v.reason
