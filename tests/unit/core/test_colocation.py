"""Plan checks: two adapters of one base on one Ollama server, and what must stay loaded on vLLM."""

from __future__ import annotations

import pytest

from slipway.core.colocation import (
    ModelBuild,
    ollama_neighbours,
    shared_base_conflicts,
    shared_base_warning,
    unload_blockers,
)
from slipway.core.types import BackendKind, RouteTable, Slot

OLLAMA = "http://127.0.0.1:11434"
OTHER_OLLAMA = "http://127.0.0.1:11435"
BASE = "sha256:" + "a" * 64
OTHER_BASE = "sha256:" + "b" * 64
V21 = "sha256:" + "1" * 64
V22 = "sha256:" + "2" * 64


def slot(name: str, model: str, endpoint: str = OLLAMA, kind: BackendKind = BackendKind.OLLAMA) -> Slot:
    return Slot(name=name, endpoint=endpoint, model=model, kind=kind)


def table(*slots: Slot) -> RouteTable:
    return RouteTable(version=1, slots={s.name: s for s in slots}, active=slots[0].name)


BUILDS = {
    "cs-v2.1": ModelBuild(BASE, (V21,)),
    "cs-v2.2": ModelBuild(BASE, (V22,)),
    "cs-v2.2-copy": ModelBuild(BASE, (V22,)),
    "other-v1": ModelBuild(OTHER_BASE, (V21,)),
    "cs-base": ModelBuild(BASE, ()),
}


@pytest.mark.parametrize(
    ("active", "candidate", "conflict"),
    [
        # the seed's plan: blue serves v2.1, green gets v2.2, one Ollama, one base
        (slot("blue", "cs-v2.1"), slot("green", "cs-v2.2"), True),
        # the bare base and an adapter on it also evict each other
        (slot("blue", "cs-base"), slot("green", "cs-v2.2"), True),
        # two names for the same base and adapter share a runner
        (slot("blue", "cs-v2.2-copy"), slot("green", "cs-v2.2"), False),
        # the same model in both slots: nothing to reload
        (slot("blue", "cs-v2.2"), slot("green", "cs-v2.2"), False),
        # another base: each keeps its own runner
        (slot("blue", "other-v1"), slot("green", "cs-v2.2"), False),
        # two Ollama servers: the recommended fix
        (slot("blue", "cs-v2.1", OTHER_OLLAMA), slot("green", "cs-v2.2"), False),
        # not Ollama: llama.cpp picks the adapter per request on one warm base
        (slot("blue", "cs-v2.1", kind=BackendKind.LLAMACPP), slot("green", "cs-v2.2"), False),
        (slot("blue", "cs-v2.1"), slot("green", "cs-v2.2", kind=BackendKind.VLLM), False),
        # a model the backend could not read is not judged
        (slot("blue", "unknown"), slot("green", "cs-v2.2"), False),
        (slot("blue", "cs-v2.1"), slot("green", "unknown"), False),
    ],
)
def test_shared_base_conflicts(active: Slot, candidate: Slot, conflict: bool) -> None:
    found = shared_base_conflicts(table(active, candidate), candidate, BUILDS)
    assert [s.name for s in found] == (["blue"] if conflict else [])
    warning = shared_base_warning(table(active, candidate), candidate, BUILDS)
    assert (warning is not None) == conflict


def test_endpoint_comparison_ignores_case_and_trailing_slash() -> None:
    t = table(slot("blue", "cs-v2.1", OLLAMA.upper() + "/"), slot("green", "cs-v2.2"))
    assert [s.name for s in ollama_neighbours(t, t.slot("green"))] == ["blue"]


def test_the_candidate_replaces_its_own_slot_in_the_table() -> None:
    # Redeploying green with another adapter is judged against blue only, not against green's old model.
    t = table(slot("blue", "cs-v2.1"), slot("green", "cs-v2.1"))
    candidate = slot("green", "cs-v2.2")
    assert [s.name for s in shared_base_conflicts(t, candidate, BUILDS)] == ["blue"]


def test_warning_says_what_happens_and_what_to_do() -> None:
    t = table(slot("blue", "cs-v2.1"), slot("green", "cs-v2.2"))
    warning = shared_base_warning(t, t.slot("green"), BUILDS, cold_start_s=2.5)
    assert warning is not None
    assert "'green' (cs-v2.2)" in warning and "'blue' (cs-v2.1)" in warning
    assert "every switch between them reloads the Ollama runner" in warning
    assert "expect a cold start of 2.5 s on rollback" in warning
    assert "smoke test" in warning and "canary" in warning
    assert "two Ollama servers or llama.cpp" in warning


def test_warning_without_a_measurement_says_so() -> None:
    t = table(slot("blue", "cs-v2.1"), slot("green", "cs-v2.2"))
    warning = shared_base_warning(t, t.slot("green"), BUILDS)
    assert warning is not None and "not measured yet" in warning


def test_several_neighbours_are_named_in_one_warning() -> None:
    t = table(slot("blue", "cs-v2.1"), slot("green", "cs-v2.2"), slot("gray", "cs-base"))
    warning = shared_base_warning(t, t.slot("green"), BUILDS)
    assert warning is not None and "'blue'" in warning and "'gray'" in warning


@pytest.mark.parametrize(
    ("endpoint", "model", "blockers"),
    [
        ("http://vllm:8000", "cs-v2.1", ["blue"]),
        ("http://vllm:8000/", "cs-v2.2", ["green"]),
        ("http://vllm:8000", "cs-v2.0", []),
        ("http://other:8000", "cs-v2.1", []),
    ],
)
def test_unload_blockers(endpoint: str, model: str, blockers: list[str]) -> None:
    t = table(
        Slot("blue", "http://vllm:8000", "classifier", BackendKind.VLLM, upstream_model="cs-v2.1"),
        Slot("green", "http://vllm:8000", "classifier", BackendKind.VLLM, upstream_model="cs-v2.2"),
    )
    assert unload_blockers(t, endpoint, model) == blockers
