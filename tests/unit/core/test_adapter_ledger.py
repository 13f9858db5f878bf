"""Which adapters a reconcile unloads: only slipway's own (its ledger's) that nothing refers to."""

from __future__ import annotations

import pytest

from slipway.core.adapter_ledger import (
    ListedAdapter,
    LoadedAdapter,
    plan_reconcile,
    read_ledger,
    referenced,
    write_ledger,
)
from slipway.core.types import BackendKind, RouteTable, Slot

A = "http://127.0.0.1:8000"
B = "http://127.0.0.1:9000"


def entry(name: str, endpoint: str = A, path: str | None = None, version: str = "v1") -> LoadedAdapter:
    return LoadedAdapter(
        endpoint=endpoint, name=name, path=path or f"/adapters/{name}", version=version, at=1.0
    )


def table(*served: tuple[str, str], kind: BackendKind = BackendKind.VLLM) -> RouteTable:
    slots = {
        f"s{i}": Slot(name=f"s{i}", endpoint=endpoint, model=name, kind=kind)
        for i, (endpoint, name) in enumerate(served)
    }
    return RouteTable(version=1, slots=slots, active="s0")


def adapters(*names: str, root: str | None = None) -> list[ListedAdapter]:
    return [ListedAdapter("base", False, "/models/base")] + [
        ListedAdapter(n, True, root or f"/adapters/{n}") for n in names
    ]


def test_the_ledger_reads_back_what_was_written_and_an_unreadable_one_is_none() -> None:
    ledger = {e.key: e for e in (entry("cs-v1"), entry("cs-v2", B))}
    assert read_ledger(write_ledger(ledger)) == ledger
    assert read_ledger(None) == {} and read_ledger("") == {}
    assert read_ledger("{not json") is None
    assert read_ledger('[{"endpoint": "x"}]') is None


def test_only_vllm_slots_refer_to_adapters() -> None:
    assert referenced(table((A, "cs-v1"))) == {(A, "cs-v1")}
    assert referenced(table((A, "cs-v1"), kind=BackendKind.OPENAI)) == set()
    assert referenced(None) == set()


@pytest.mark.parametrize(
    ("listed", "routes", "keep", "unload", "forget", "kept"),
    [
        # loaded by slipway, still loaded from its path, nothing refers to it: unloaded
        (adapters("cs-v1"), table((A, "cs-v2")), {}, ["cs-v1"], [], []),
        # a slot (active, standby, canary or mirror: any slot of the routes) still refers to it
        (adapters("cs-v1"), table((A, "cs-v2"), (A, "cs-v1")), {}, [], [], []),
        # the same name on another server is another adapter
        (adapters("cs-v1"), table((B, "cs-v1")), {}, ["cs-v1"], [], []),
        # a deploy still checking it, or a pending retire, keeps it
        (adapters("cs-v1"), table((A, "cs-v2")), {(A, "cs-v1"): "checking"}, [], [], ["checking"]),
        # vLLM no longer lists it: forgotten, nothing to unload
        (adapters(), table((A, "cs-v2")), {}, [], ["no longer lists it"], []),
        # someone loaded that name from another path since: no longer slipway's
        (adapters("cs-v1", root="/elsewhere"), table((A, "cs-v2")), {}, [], ["/elsewhere"], []),
        # a base model of that name is the server itself
        ([ListedAdapter("cs-v1", False, "/m")], table((A, "cs-v2")), {}, [], ["base model"], []),
        # the server could not be asked: try again later
        (None, table((A, "cs-v2")), {}, [], [], ["could not be asked"]),
    ],
)
def test_plan(
    listed: list[ListedAdapter] | None,
    routes: RouteTable,
    keep: dict[tuple[str, str], str],
    unload: list[str],
    forget: list[str],
    kept: list[str],
) -> None:
    plan = plan_reconcile({(A, "cs-v1"): entry("cs-v1")}, {A: listed}, routes, keep)
    assert [e.name for e in plan.unload] == unload
    assert len(plan.forget) == len(forget)
    for (_, why), words in zip(plan.forget, forget, strict=True):
        assert words in why
    assert len(plan.kept) == len(kept)
    for (_, why), words in zip(plan.kept, kept, strict=True):
        assert words in why


def test_adapters_not_in_the_ledger_are_never_planned_whatever_their_name() -> None:
    # --lora-modules, loaded by hand, the probe's throwaway names: not slipway's deploys.
    listed = adapters("static-one", "cs-v9", "slipway-probe-0a1b2c3d")
    plan = plan_reconcile({}, {A: listed}, table((A, "cs-v2")), {})
    assert plan.unload == () and plan.forget == () and plan.kept == ()


def test_a_path_written_with_a_trailing_slash_is_the_same_path() -> None:
    plan = plan_reconcile(
        {(A, "cs-v1"): entry("cs-v1", path="/adapters/cs-v1/")}, {A: adapters("cs-v1")}, table((A, "x")), {}
    )
    assert [e.name for e in plan.unload] == ["cs-v1"]
