"""Routing is a pure function: weights, stickiness, and ramps that keep users where they were."""

from __future__ import annotations

import collections

import pytest

from slipway.core.types import RouteTable, Slot
from slipway.gateway.routing import compile_routes, pick, sticky_bucket


def table(weights: dict[str, int], active: str = "blue") -> RouteTable:
    slots = {
        n: Slot(name=n, endpoint=f"http://127.0.0.1:{9000 + i}", model=n)
        for i, n in enumerate(("blue", "green"))
    }
    return RouteTable(version=1, slots=slots, active=active, weights=weights)


def test_no_weights_means_all_to_active() -> None:
    plan = compile_routes(table({}, active="green"))
    assert {pick(plan, None, d / 100).name for d in range(100)} == {"green"}


@pytest.mark.parametrize("green_bp", [500, 2_500, 5_000])
def test_weighted_split_follows_weights(green_bp: int) -> None:
    plan = compile_routes(table({"blue": 10_000 - green_bp, "green": green_bp}))
    counts = collections.Counter(pick(plan, None, i / 10_000).name for i in range(10_000))
    assert counts["green"] == green_bp


def test_sticky_key_lands_on_same_slot() -> None:
    plan = compile_routes(table({"blue": 9_500, "green": 500}))
    for key in (f"user-{i}" for i in range(200)):
        first = pick(plan, key, 0.0).name
        assert all(pick(plan, key, d / 10).name == first for d in range(10))


def test_ramp_keeps_candidate_users_on_candidate() -> None:
    keys = [f"user-{i}" for i in range(5_000)]
    at5 = compile_routes(table({"blue": 9_500, "green": 500}))
    at25 = compile_routes(table({"blue": 7_500, "green": 2_500}))
    on_green = [k for k in keys if pick(at5, k, 0.5).name == "green"]
    assert 150 < len(on_green) < 350
    assert all(pick(at25, k, 0.5).name == "green" for k in on_green)


def test_sticky_bucket_is_stable() -> None:
    assert sticky_bucket("alice") == sticky_bucket("alice")
    assert 0 <= sticky_bucket("bob") < 10_000
