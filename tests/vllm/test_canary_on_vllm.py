"""A canary between two adapters on one vLLM base, judged on labels: v2.2's billing regression is caught.

The same story as tests/e2e/test_canary_llama.py, on a real vLLM: v2.1 serves
production as a runtime-loaded LoRA adapter, v2.2 (trained on tickets whose
refunds were mislabelled shipping) is deployed as a canary, loaded at run
time on the same base, and takes half the users. Each answer is followed by
its ground-truth label as feedback; when the check falls due, slipway rolls
the canary back by itself on billing accuracy, and v2.1 serves everyone.

Only time is moved by hand (`ManualClock`): no check runs until every answer
and label is in, so the one check the test asks for sees all of it, and
greedy decoding with sticky keys makes that data the same every run.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
from tests.clock import ManualClock
from tests.harness import Gateway, live_gateway
from tests.vllm.gateway_setup import listed, load_adapter, routing
from tests.vllm_server import VllmServer

from slipway.analysis.verdict import ALL_CATEGORIES
from slipway.demo.scenario import TRAFFIC_MIX
from slipway.demo.tickets import Ticket, generate, parse_intent

PREFIX = "canary"
STEPS = "50%:4h,100%"
#: At 50 % with 30 % billing, ~70 labelled billing answers reach the candidate; ~40 suffice.
REQUESTS = 480
CONCURRENCY = 8
MINUTE = 60.0


async def send(url: str, tickets: Sequence[Ticket], *, labels: bool = True) -> Counter[tuple[str, str]]:
    """Each ticket through the gateway, then its true intent as feedback; (slot, right/wrong) counts."""
    served: Counter[tuple[str, str]] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with (
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=60) as client,
        httpx.AsyncClient(base_url=url, timeout=60) as feedback,
    ):

        async def one(i: int, ticket: Ticket) -> None:
            async with gate:
                raw = await client.completions.with_raw_response.create(
                    model="customer-support",
                    prompt=ticket.prompt,
                    max_tokens=4,
                    temperature=0,
                    extra_headers={"X-Slipway-Key": f"user-{i}", "X-Slipway-Category": ticket.intent},
                )
                answer = parse_intent(raw.parse().choices[0].text)
                served[raw.headers["x-slipway-slot"], "right" if answer == ticket.intent else "wrong"] += 1
                if labels:
                    r = await feedback.post(
                        "/v1/feedback",
                        json={"request_id": raw.headers["x-slipway-request-id"], "label": ticket.intent},
                    )
                    assert r.status_code == 200, r.text

        await asyncio.gather(*(one(i, t) for i, t in enumerate(tickets)))
    return served


def wait_for_check(gw: Gateway, timeout: float = 60.0) -> dict[str, Any]:
    """GET /admin/canary once a check has been made and the route change it caused is applied."""
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = httpx.get(f"{gw.url}/admin/canary", timeout=30).json()
        c = data["canary"]
        if c["looks"] >= 1 and not c["route_pending"]:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"no check within {timeout:g}s of moving the clock: {c}")
        time.sleep(0.05)


def metric_lines(verdict: dict[str, Any]) -> str:
    return "\n".join(
        f"{m['metric']} {m['category']}: {m['action']} — {m['detail']}" for m in verdict["metrics"]
    )


async def test_a_billing_regression_between_two_adapters_on_vllm_is_caught_and_rolled_back(
    tmp_path: Path, vllm: VllmServer
) -> None:
    load_adapter(vllm, f"{PREFIX}-v2.1", "v2.1")
    clock = ManualClock()

    with live_gateway(tmp_path, routing(vllm, PREFIX), clock=clock) as gw:
        # Given v2.1 in production and v2.2 deployed as a canary at 50 %, loaded at run time on the same base
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "strategy": "canary", "slot": "green", "model": f"{PREFIX}-v2.2",
                  "adapter": str(vllm.adapter("v2.2")), "no_smoke": True, "steps": STEPS,
                  "interval": "15m"},
            headers={"x-slipway-actor": "ann"},
            timeout=120,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json()["canary"]["weight_pct"] == 50
        assert listed(vllm)[f"{PREFIX}-v2.2"] == str(vllm.adapter("v2.2"))

        # When production-like tickets flow, each labelled by its true intent, and the check falls due
        served = await send(gw.url, generate(REQUESTS, "canary-vllm", weights=TRAFFIC_MIX))
        green = served["green", "right"] + served["green", "wrong"]
        assert REQUESTS // 4 < green < REQUESTS * 3 // 4, served
        clock.advance(15 * MINUTE)
        data = wait_for_check(gw)

        # Then slipway rolls it back by itself, on billing accuracy (and the pooled figure it drags down)
        c = data["canary"]
        verdict = c["last_verdict"]
        assert (c["status"], c["weight_pct"]) == ("rolled_back", 0), metric_lines(verdict)
        rows = {(m["metric"], m["category"]): m for m in verdict["metrics"]}
        fired = {key for key, m in rows.items() if m["action"] == "rollback"}
        assert ("accuracy", "billing") in fired, metric_lines(verdict)
        assert fired <= {("accuracy", "billing"), ("accuracy", ALL_CATEGORIES)}, metric_lines(verdict)
        billing = rows["accuracy", "billing"]
        assert billing["candidate"] < 0.8 < 0.9 < billing["baseline"], metric_lines(verdict)

        # and v2.1 serves everyone; v2.2 stays loaded on vLLM for investigation
        after = await send(gw.url, generate(40, "canary-vllm-after", weights=TRAFFIC_MIX), labels=False)
        assert {slot for slot, _ in after} == {"blue"}, after
        assert f"{PREFIX}-v2.2" in listed(vllm)
