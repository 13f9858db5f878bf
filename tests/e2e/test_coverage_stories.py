"""A category too thin to judge holds the ramp: it waits for labels, then ends inconclusive.

Real sim model servers, slipway on loopback with its SQLite store, traffic
with labels through the gateway; the clock is moved by the test.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import PROMPTS, canary, check_after, deploy_canary
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def gw(tmp_path: Path, clock: ManualClock) -> Iterator[Gateway]:
    extra = textwrap.dedent(
        """\
        canary:
          hold_limit: 30m
        """
    )
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=extra), clock=clock) as gateway,
    ):
        yield gateway


async def mixed_traffic(url: str, shipping: int, billing: int) -> None:
    """Labelled traffic in which billing is a thin slice."""
    gate = asyncio.Semaphore(16)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int, category: str) -> None:
            async with gate:
                r = await client.post(
                    "/v1/chat/completions",
                    headers={"x-slipway-category": category},
                    json={
                        "model": "m",
                        "messages": [{"role": "user", "content": f"{PROMPTS[category]} #{i}"}],
                    },
                )
                assert r.status_code == 200, r.text
                fb = await client.post(
                    "/v1/feedback", json={"request_id": r.headers["x-slipway-request-id"], "label": category}
                )
                assert fb.status_code == 200, fb.text

        jobs = [one(i, "shipping") for i in range(shipping)] + [one(i, "billing") for i in range(billing)]
        await asyncio.gather(*jobs)


async def test_a_thin_category_holds_the_phase_then_the_canary_ends_inconclusive(
    gw: Gateway, clock: ManualClock
) -> None:
    deploy_canary(gw, "10%:2h,100%")
    # Billing is 5 % of the traffic: at a 10 % canary it gets a handful of labels, far from enough.
    # The split is even, not coin flips: 120 of 1,200 reach the candidate, clear of the 100 a metric needs.
    await mixed_traffic(gw.url, shipping=1140, billing=60)
    c = check_after(gw, clock, 120)["canary"]  # the phase's end: every check passes
    assert c["last_verdict"]["action"] == "pass", c["last_verdict"]
    assert (c["status"], c["phase"], c["weight_pct"]) == ("running", 1, 10), c
    assert c["reason"].startswith("waiting for labels: not enough labels to judge billing"), c["reason"]
    billing = next(r for r in c["last_verdict"]["extra"]["coverage"] if r["category"] == "billing")
    assert billing["required"] and not billing["covered"]
    assert billing["labels_candidate"] < billing["labels_needed"] <= billing["labels_baseline"]
    assert "slipway_canary_uncovered_categories 1.0" in httpx.get(f"{gw.url}/metrics").text

    c = check_after(gw, clock, 15)["canary"]  # still short: one more extension, up to the 30 min limit
    assert (c["status"], c["weight_pct"]) == ("running", 10), c
    c = check_after(gw, clock, 15)["canary"]
    assert c["status"] == "rolled_back", c
    assert "not enough labels to judge billing" in c["reason"], c["reason"]
    events = [e["kind"] for e in canary(gw.url)["events"]]
    assert events[:2] == ["rollback", "check"] and events.count("extend") == 2, events
