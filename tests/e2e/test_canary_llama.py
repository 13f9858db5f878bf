"""The seed's regression on real llama.cpp: a canary of adapter v2.2 is caught on billing and rolled back.

Real parts only: the tiny GGUF base and its adapters v2.1 (production) and
v2.2 (retrained on auto-labelled tickets that filed refunds under shipping)
built by the project's own code; llama-server started by slipway's runtime
from the `engines:` section; slipway on loopback with its SQLite store; the
canary started with the CLI; traffic through the gateway with the official
`openai` client, each answer followed by its ground-truth label as feedback; a
webhook receiver on loopback.

Only time is moved by hand (`ManualClock`), and that is what makes the test
exact rather than lucky. On a running clock the guard checks look at whatever
labels have arrived so far, and with a regression confined to billing (30 %
of traffic) the pooled "(all)" accuracy and billing's own cross their bounds
at about the same moment, so which one a look catches first depends on
timing. Here no check runs until every answer and label is in; the one check
the test asks for then sees all of it. The routing is by sticky key and the
model is greedy, so that data is the same every run: about 90 labelled
billing answers from v2.2 at ~68 % against ~97 % for v2.1, 28 points against
a 5-point threshold where ~40 answers already suffice. Every wait is on a
condition (a status, a notification), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.clock import ManualClock
from tests.harness import Gateway, live_gateway, tiny_engine_yaml
from tests.processes import run_cli
from tests.webhooks import Hook, webhook_receiver

from slipway.analysis.verdict import ALL_CATEGORIES
from slipway.demo.scenario import TRAFFIC_MIX, smoke_cases
from slipway.demo.tickets import Ticket, generate, parse_intent
from slipway.demo.tiny_model import TinyModelPaths

pytestmark = pytest.mark.llama

STEPS = "25%:4h,100%"
#: At 25 % with 30 % billing, ~90 labelled billing answers reach the candidate; ~40 suffice.
REQUESTS = 1200
MINUTE = 60.0
CONCURRENCY = 4


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as h:
        yield h


def config_yaml(models: TinyModelPaths, hook: Hook) -> str:
    return tiny_engine_yaml(models, extra=f'notify:\n  webhooks: ["{hook.url}"]\n  timeout_s: 5\n')


async def send(url: str, tickets: Sequence[Ticket], *, labels: bool = True) -> Counter[tuple[str, str]]:
    """Each ticket through the gateway (openai client), then its true intent as feedback.

    Returns (slot, "right"/"wrong") counts. One user key per ticket, so the
    canary's share of users is its share of traffic.
    """
    served: Counter[tuple[str, str]] = Counter()
    gate = asyncio.Semaphore(CONCURRENCY)
    async with (
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30) as client,
        httpx.AsyncClient(base_url=url, timeout=30) as feedback,
    ):

        async def one(i: int, ticket: Ticket) -> None:
            async with gate:
                raw = await client.completions.with_raw_response.create(
                    model="customer-support",
                    prompt=ticket.prompt,
                    max_tokens=4,
                    temperature=0,
                    extra_headers={"X-Slipway-Key": f"user-{i}", "X-Slipway-Category": ticket.intent},
                    extra_body={"cache_prompt": False},
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


def wait_for_check(gw: Gateway, timeout: float = 30.0) -> dict[str, Any]:
    """GET /admin/canary once a check has been made and any route change it caused is applied."""
    deadline = time.monotonic() + timeout
    while True:
        data: dict[str, Any] = httpx.get(f"{gw.url}/admin/canary").json()
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


async def test_a_billing_regression_on_llama_cpp_is_caught_rolled_back_and_notified(
    tmp_path: Path, models: TinyModelPaths, hook: Hook
) -> None:
    smoke = tmp_path / "smoke.jsonl"
    smoke.write_text("".join(json.dumps(c) + "\n" for c in smoke_cases(0)))
    clock = ManualClock()

    with live_gateway(tmp_path, config_yaml(models, hook), clock=clock) as gw:
        # Given v2.1 in production and v2.2 deployed from the CLI as a canary at 25 %, smoke test passed
        out = run_cli(
            gw.url,
            ["deploy", "v2.2", "--strategy", "canary", "--slot", "green",
             "--model", "customer-support-v2.2", "--adapter", "v2.2", "--smoke", str(smoke),
             "--steps", STEPS, "--interval", "15m", "--json"],
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        started = json.loads(out.stdout)
        assert (started["canary"]["status"], started["canary"]["weight_pct"]) == ("running", 25)
        assert started["deployment"]["detail"]["smoke"]["passed_count"] == 12
        route = httpx.get(f"{gw.url}/admin/status").json()["route"]
        assert route["weights_pct"] == {"blue": 75, "green": 25}
        hook.wait_for("canary.started")

        # When production-like tickets flow through the gateway, each labelled by its true intent,
        # and the first check falls due 15 minutes in
        served = await send(gw.url, generate(REQUESTS, "canary-llama", weights=TRAFFIC_MIX))
        green = served["green", "right"] + served["green", "wrong"]
        assert 200 < green < 400, served
        clock.advance(15 * MINUTE)
        data = wait_for_check(gw)

        # Then slipway rolls the canary back by itself, on billing accuracy: weight 0 %, v2.1 serves all
        c = data["canary"]
        verdict = c["last_verdict"]
        assert (c["status"], c["weight_pct"]) == ("rolled_back", 0), metric_lines(verdict)
        rows = {(m["metric"], m["category"]): m for m in verdict["metrics"]}
        fired = {key for key, m in rows.items() if m["action"] == "rollback"}
        # Billing, and everything pooled, which billing drags down; nothing else.
        assert ("accuracy", "billing") in fired, metric_lines(verdict)
        assert fired <= {("accuracy", "billing"), ("accuracy", ALL_CATEGORIES)}, metric_lines(verdict)
        billing = rows["accuracy", "billing"]
        assert billing["candidate"] < 0.8 < 0.9 < billing["baseline"], metric_lines(verdict)
        assert billing["n_candidate"] > 60, metric_lines(verdict)
        assert [e["kind"] for e in data["events"]][:2] == ["rollback", "check"]

        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["active"] == "blue" and status["route"]["weights_pct"] == {}
        assert "green" in {s["name"] for s in status["slots"]}  # kept loaded for investigation
        deps = httpx.get(f"{gw.url}/admin/deployments").json()["deployments"]
        assert (deps[0]["status"], deps[0]["strategy"]) == ("rolled_back", "canary")
        after = await send(gw.url, generate(40, "canary-llama-after", weights=TRAFFIC_MIX), labels=False)
        assert {slot for slot, _ in after} == {"blue"}, after

        # And the webhook received the rollback with the metric table naming billing
        note = hook.wait_for("canary.rolled_back")
        assert "rolled back at 25%" in note["text"] and "billing" in note["text"], note["text"]
        table = next(b for b in note["blocks"] if "text" in b and b["text"]["text"].startswith("```"))
        assert "accuracy" in table["text"]["text"] and "billing" in table["text"]["text"]
        assert note["attachments"][0]["color"] == "#e01e5a"
        fields = {f["title"]: f["value"] for f in note["attachments"][0]["fields"]}
        assert ": rollback; +" in fields["accuracy [billing]"], fields  # the verdict, then its interval
