"""Given/When/Then building blocks for canary stories: traffic with late labels, waiting for checks."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from tests.clock import ManualClock
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import Hook

PROMPTS = {"billing": "i want a refund for this invoice", "shipping": "where is my parcel"}
MINUTE = 60.0


async def traffic(url: str, n: int, *, concurrency: int = 16, labels: bool = True) -> Counter[str]:
    """`n` chats split over billing and shipping, each followed by its ground-truth label as feedback."""
    served: Counter[str] = Counter()
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def one(i: int) -> None:
            category = "billing" if i % 2 == 0 else "shipping"
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
                served[r.headers["x-slipway-slot"]] += 1
                if labels:
                    fb = await client.post(
                        "/v1/feedback",
                        json={"request_id": r.headers["x-slipway-request-id"], "label": category},
                    )
                    assert fb.status_code == 200, fb.text

        await asyncio.gather(*(one(i) for i in range(n)))
    return served


def canary(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{url}/admin/canary").json()
    return data


def wait_for_look(gw: Gateway, looks: int, timeout: float = 15.0) -> dict[str, Any]:
    """Poll until the canary has made `looks` checks (or ended); returns GET /admin/canary."""
    deadline = time.monotonic() + timeout
    while True:
        data = canary(gw.url)
        c = data["canary"]
        done = c is not None and (c["looks"] >= looks or c["status"] in ("rolled_back", "aborted", "stable"))
        if done and not c["route_pending"]:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"no check #{looks} within {timeout:g}s: {c}")
        time.sleep(0.02)


def check_after(gw: Gateway, clock: ManualClock, minutes: float) -> dict[str, Any]:
    """Move the clock on and wait for the check that falls due."""
    looks = canary(gw.url)["canary"]["looks"]
    clock.advance(minutes * MINUTE)
    return wait_for_look(gw, looks + 1)


def deploy_canary(gw: Gateway, steps: str, interval: str = "15m") -> dict[str, Any]:
    r = httpx.post(
        f"{gw.url}/admin/deploy",
        json={"version": "v2.2", "strategy": "canary", "slot": "green", "no_smoke": True,
              "steps": steps, "interval": interval},
        headers={"x-slipway-actor": "ann"},
        timeout=60,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def rows(data: dict[str, Any]) -> dict[tuple[str, str | None], dict[str, Any]]:
    verdict = data["canary"]["last_verdict"]
    return {(m["metric"], m["category"]): m for m in verdict["metrics"]}


def story(tmp_path: Path, hook: Hook, clock: ManualClock, candidate_extra: str = "") -> Iterator[Gateway]:
    """Blue serves v2.1, green a v2.2 whose sim profile `candidate_extra` changes; a webhook is told all."""
    notify = textwrap.dedent(
        f"""\
        notify:
          webhooks: ["{hook.url}"]
          timeout_s: 2
        """
    )
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2", extra=candidate_extra), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=notify), clock=clock) as gw,
    ):
        yield gw
