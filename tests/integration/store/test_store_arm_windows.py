"""The canary checks' subsample (`arm_windows.subsample`): drawn by request id, so nearly nested
from look to look instead of drawn afresh."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from tests.integration.store.builders import T0, record

from slipway.core.records import RequestRecord
from slipway.store import Store
from slipway.store.repositories import arm_windows
from slipway.store.repositories.arm_windows import id_threshold, sampling_probability


def records(n: int, *, seed: int = 1, slot: str = "blue") -> list[RequestRecord]:
    """`n` requests one second apart with gateway-like ids; latency_ms = i identifies each."""
    rng = random.Random(seed)
    return [
        replace(
            record(i, slot=slot, started_at=T0 + i),
            request_id=rng.randbytes(12).hex(),
            latency_ms=float(i),
            status=502 if i % 11 == 0 else 200,
            error="upstream_502" if i % 11 == 0 else None,
        )
        for i in range(n)
    ]


def completed(rows: list[RequestRecord], upto: int) -> list[RequestRecord]:
    return [r for r in rows[:upto] if r.status < 400 and r.error is None and not r.aborted]


async def sample(store: Store, until: int, *, probability: float, cap: int) -> set[int]:
    rows = await store._read(
        "subsample", arm_windows.subsample, "blue", T0, T0 + until, probability=probability, cap=cap
    )
    return {int(latency) for latency, *_ in rows}


def test_the_threshold_is_the_probability_rounded_up_to_a_power_of_two() -> None:
    assert id_threshold(1.0) is None and id_threshold(0.6) is None
    assert id_threshold(0.5) == "8" + "0" * 23
    assert id_threshold(0.3) == "8" + "0" * 23
    assert id_threshold(0.25) == "4" + "0" * 23
    assert id_threshold(0.2) == "4" + "0" * 23
    assert id_threshold(1e-3) == "008" + "0" * 21  # 2^-9 ≥ 0.001 > 2^-10
    assert id_threshold(0.0) == "0" * 23 + "1"
    assert sampling_probability(0, 100) == 1.0 and sampling_probability(100, 100) == 1.0
    assert 0.1 < sampling_probability(1500, 100) < 0.125


async def test_consecutive_windows_are_nested_without_a_halving(store: Store) -> None:
    rows = records(2000)
    await store.write_records(rows)
    threshold = id_threshold(0.25)
    assert threshold is not None
    # Under the cap, at the same threshold: the later look holds every request of the earlier.
    first = await sample(store, 1200, probability=0.25, cap=10_000)
    second = await sample(store, 2000, probability=0.25, cap=10_000)
    assert first < second
    assert first == {int(r.latency_ms) for r in completed(rows, 1200) if r.request_id < threshold}
    assert 200 < len(first) < 350  # about a quarter of 1,091 completed requests
    # At the cap the sample is the bottom-k by id, and a later look only evicts the largest ids.
    capped_first = await sample(store, 1200, probability=0.25, cap=150)
    capped_second = await sample(store, 2000, probability=0.25, cap=150)
    for upto, got in ((1200, capped_first), (2000, capped_second)):
        by_id = sorted(completed(rows, upto), key=lambda r: r.request_id)
        assert got == {int(r.latency_ms) for r in by_id[:150]}
    assert {i for i in capped_second if i < 1200} <= capped_first
    assert len(capped_first & capped_second) > 75


async def test_a_halving_keeps_a_subset_of_the_earlier_sample(store: Store) -> None:
    rows = records(3000, seed=2)
    await store.write_records(rows)
    first = await sample(store, 1000, probability=0.5, cap=10_000)
    second = await sample(store, 3000, probability=0.25, cap=10_000)
    assert {i for i in second if i < 1000} < first


async def test_the_store_reads_at_most_the_cap_by_id(store: Store) -> None:
    rows = records(3000, seed=3)
    await store.write_records(rows)
    window = await store.read_arm_window("blue", since=T0, until=T0 + 3000, sample_cap=400)
    by_id = sorted(completed(rows, 3000), key=lambda r: r.request_id)
    assert window.sampled_from == len(by_id)
    assert sorted(window.latency_ms) == sorted(r.latency_ms for r in by_id[:400])
    # The same window read again is the same sample.
    again = await store.read_arm_window("blue", since=T0, until=T0 + 3000, sample_cap=400)
    assert list(again.latency_ms) == list(window.latency_ms)


@pytest.mark.parametrize("probability", [1.0, 0.5, 1e-6])
async def test_ids_of_another_form_do_not_break_it(store: Store, probability: float) -> None:
    odd = ["r1", "r2", "0", "00", "ffffffffffffffffffffffffff", "7" * 24, "A" * 24]
    await store.write_records(
        [replace(record(i, started_at=T0 + i), request_id=rid, aborted=False) for i, rid in enumerate(odd)]
    )
    got = await store._read(
        "subsample", arm_windows.subsample, "blue", T0, T0 + 100, probability=probability, cap=3
    )
    assert len(got) <= 3
    if probability == 1.0:
        # Bottom-k by id, string order: "0", "00", "7…7".
        assert sorted(int(latency - 123.25) for latency, *_ in got) == [2, 3, 5]


async def test_both_ways_to_the_sample_give_the_same_one(store: Store) -> None:
    rows = records(3000, seed=5) + records(1000, seed=6, slot="green")
    await store.write_records(rows)
    n = await store._read("count", arm_windows.count, "blue", T0, T0 + 3000)
    p = sampling_probability(n, 200)
    reads = []
    for given in (None, n):  # the window's index; on SQLite, the id index when it reads fewer rows
        reads.append(
            await store._read(
                "subsample",
                arm_windows.subsample,
                "blue",
                T0,
                T0 + 3000,
                probability=p,
                cap=200,
                requests_in_window=given,
            )
        )
    assert reads[0] == reads[1] and len(reads[0]) == 200
    by_id = sorted(completed(rows[:3000], 3000), key=lambda r: r.request_id)
    assert [row[0] for row in reads[0]] == [r.latency_ms for r in by_id[:200]]  # smallest id first
    if store.where.startswith("SQLite"):
        assert await store._read("plan", arm_windows._through_id_index, p, 200, n)
