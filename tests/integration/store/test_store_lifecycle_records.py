"""Request inputs, versioned suites, evaluation runs, checklists and drills, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest

from slipway.core.errors import StoreError, SuiteChanged
from slipway.core.lifecycle import ChecklistRecord, DrillRecord, EvalRunRecord, RequestInput
from slipway.store import Store


async def test_request_inputs_round_trip_and_a_retried_batch_is_not_an_error(store: Store) -> None:
    first = RequestInput("r1", "i was charged twice", 1, {"messages": [{"role": "user", "content": "x"}]})
    second = RequestInput("r2", "héllo " * 100, 3, None)
    await store.write_request_inputs([first, second])
    await store.write_request_inputs([first, RequestInput("r3", "", 1)])

    found = await store.request_inputs(["r1", "r2", "r3", "unknown"])

    assert found == {"r1": first, "r2": second, "r3": RequestInput("r3", "", 1)}


async def test_request_inputs_are_read_in_chunks_beyond_the_parameter_limits(store: Store) -> None:
    inputs = [RequestInput(f"r{i}", f"text {i}", 1) for i in range(1_234)]
    await store.write_request_inputs(inputs)

    found = await store.request_inputs([i.request_id for i in inputs])

    assert len(found) == 1_234 and found["r1233"].input_text == "text 1233"


async def test_each_change_to_a_suite_is_a_new_version_and_the_latest_is_read_by_default(
    store: Store,
) -> None:
    v1 = await store.add_suite_version(
        "billing", at=1.0, actor="ana", note="imported", rule={"max_drop_points": 5}, cases=[{"id": "a"}]
    )
    v2 = await store.add_suite_version(
        "billing",
        at=2.0,
        actor="ana",
        note="regressions",
        rule={"max_drop_points": 5},
        cases=[{"id": "a"}, {"id": "b"}],
    )
    await store.add_suite_version("smoke", at=3.0, actor="bo", note="", rule={}, cases=[])

    assert (v1.version, v2.version) == (1, 2)
    assert await store.get_suite("billing") == v2
    assert await store.get_suite("billing", 1) == v1
    assert await store.get_suite("nope") is None
    assert [(s.name, s.version) for s in await store.latest_suites()] == [("billing", 2), ("smoke", 1)]


async def test_two_writers_adding_to_one_suite_never_share_a_version(store: Store) -> None:
    async def add(i: int) -> int | None:
        try:
            saved = await store.add_suite_version("s", at=float(i), actor="x", note="", rule={}, cases=[])
        except StoreError:
            return None
        return saved.version

    versions = [v for v in await asyncio.gather(*(add(i) for i in range(8))) if v is not None]

    assert len(versions) == len(set(versions)) and versions


async def test_runs_checklists_and_drills_are_listed_newest_first(store: Store) -> None:
    for i in range(3):
        await store.add_eval_run(
            EvalRunRecord(
                id=f"run-{i}",
                at=float(i),
                suite="billing",
                suite_version=1,
                slot="green",
                slot_version="v2.2",
                passed=i != 1,
                actor="ana",
                result={"i": i},
                against="blue",
                against_version="v2.1",
                deployment_id="dep-1" if i else None,
            )
        )
        await store.add_checklist(
            ChecklistRecord(f"ck-{i}", float(i), "v2.2", "green", "ana", i == 2, [{"item": "smoke", "i": i}])
        )
        await store.add_drill(DrillRecord(f"drill-{i}", float(i), "ana", "blue", True, {"switch_ms": i}))

    runs = await store.list_eval_runs(suite="billing")
    assert [r.id for r in runs] == ["run-2", "run-1", "run-0"]
    assert [r.id for r in await store.list_eval_runs(deployment_id="dep-1")] == ["run-2", "run-1"]
    assert await store.list_eval_runs(slot_version="v9") == []
    assert await store.get_eval_run("run-1") == runs[1]
    assert [c.id for c in await store.list_checklists(version="v2.2", limit=2)] == ["ck-2", "ck-1"]
    assert (await store.list_drills(limit=1))[0].result == {"switch_ms": 2}


@pytest.mark.parametrize("limit", [1, 50])
async def test_nothing_stored_reads_as_empty(store: Store, limit: int) -> None:
    assert await store.latest_suites() == []
    assert await store.list_drills(limit=limit) == []
    assert await store.list_checklists(limit=limit) == []


async def test_a_version_built_on_one_another_writer_replaced_is_refused_and_nothing_is_saved(
    store: Store,
) -> None:
    case = {"id": "a", "prompt": "p", "expect": {"label": "billing"}}
    await store.add_suite_version("r", at=1.0, actor="x", note="", rule={}, cases=[case])
    # Two writers read version 1 and each append their own case to it
    ours = await store.add_suite_version(
        "r", at=2.0, actor="x", note="", rule={}, cases=[case, {**case, "id": "b"}], based_on=1
    )
    assert ours.version == 2
    with pytest.raises(SuiteChanged) as refused:
        await store.add_suite_version(
            "r", at=3.0, actor="y", note="", rule={}, cases=[case, {**case, "id": "c"}], based_on=1
        )
    assert "run the command again" in (refused.value.hint or "").lower()
    latest = await store.get_suite("r")
    assert latest is not None and latest.version == 2 and [c["id"] for c in latest.cases] == ["a", "b"]
    # A new suite is based on version 0
    with pytest.raises(SuiteChanged):
        await store.add_suite_version("r", at=4.0, actor="y", note="", rule={}, cases=[], based_on=0)
    assert (
        await store.add_suite_version("new", at=5.0, actor="y", note="", rule={}, cases=[], based_on=0)
    ).version == 1


async def test_of_writers_starting_from_the_same_version_exactly_one_saves(store: Store) -> None:
    async def add(i: int) -> int | None:
        try:
            saved = await store.add_suite_version(
                "s", at=float(i), actor="x", note="", rule={}, cases=[], based_on=0
            )
        except SuiteChanged:
            return None
        return saved.version

    versions = [v for v in await asyncio.gather(*(add(i) for i in range(8))) if v is not None]
    assert versions == [1]
