"""The seed's regression on real llama.cpp, in shadow: v2.2 mirrored behind v2.1, the report finds billing.

Real parts only: the tiny GGUF base with adapters v2.1 (production) and v2.2
(retrained on tickets that filed refunds under shipping), built by the
project's own code; llama-server started by slipway from the `engines:`
section (one warm base, the adapter chosen per request, so production's
answer and the candidate's copy run on the same engine); slipway on
loopback with SQLite; the shadow started with the CLI; tickets through the
gateway with the official `openai` client, each followed by its true intent
as feedback; the report read with the CLI.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import openai
import pytest
from tests.harness import live_gateway, tiny_engine_yaml
from tests.processes import run_cli

from slipway.demo.scenario import TRAFFIC_MIX
from slipway.demo.tickets import Ticket, generate
from slipway.demo.tiny_model import TinyModelPaths

pytestmark = pytest.mark.llama

TICKETS = 500


def config_yaml(models: TinyModelPaths) -> str:
    return tiny_engine_yaml(
        models,
        extra="""\
        shadow:
          checks: {labels: [billing, account, shipping, technical]}
          decision: {min_pairs: 400, min_pairs_per_group: 30}
        """,
    )


async def send(url: str, tickets: Sequence[Ticket]) -> set[str]:
    """Each ticket through the gateway, then its true intent as feedback; returns the slots that answered."""
    slots: set[str] = set()
    gate = asyncio.Semaphore(4)
    async with (
        openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=30) as client,
        httpx.AsyncClient(base_url=url, timeout=30) as feedback,
    ):

        async def one(ticket: Ticket) -> None:
            async with gate:
                raw = await client.completions.with_raw_response.create(
                    model="customer-support",
                    prompt=ticket.prompt,
                    max_tokens=4,
                    temperature=0,
                    extra_headers={"X-Slipway-Category": ticket.intent},
                    extra_body={"cache_prompt": False},
                )
                slots.add(raw.headers["x-slipway-slot"])
                r = await feedback.post(
                    "/v1/feedback",
                    json={"request_id": raw.headers["x-slipway-request-id"], "label": ticket.intent},
                )
                assert r.status_code == 200, r.text

        await asyncio.gather(*(one(t) for t in tickets))
    return slots


async def test_a_shadow_of_v2_2_on_llama_cpp_finds_the_billing_regression(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    with live_gateway(tmp_path, config_yaml(models)) as gw:
        # Given v2.2 in shadow behind v2.1, started from the CLI, mirroring every request
        out = run_cli(
            gw.url,
            ["deploy", "v2.2", "--strategy", "shadow", "--slot", "green", "--model", "customer-support-v2.2",
             "--adapter", "v2.2", "--no-smoke", "--sample", "100%", "--until", f"{TICKETS}-pairs", "--json"],
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["shadow"]["status"] == "running"

        # When production-like tickets flow, each labelled by its true intent
        assert await send(gw.url, generate(TICKETS, "shadow-llama", weights=TRAFFIC_MIX)) == {"blue"}

        # Then the run completes at its pair target, by itself
        deadline = time.monotonic() + 60
        while (status := json.loads(run_cli(gw.url, ["shadow", "status", "--json"]).stdout))["shadow"][
            "status"
        ] == "running":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
        assert status["shadow"]["status"] == "complete" and status["pairs"] == TICKETS
        assert status["mirror"]["candidate_errors"] == 0

        # And the report names billing, and only billing among the categories
        out = run_cli(gw.url, ["shadow", "report", "--format", "json"])
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        flagged = {
            (g["dimension"], g["value"]) for d in report["dimensions"] for g in d["groups"] if g["flagged"]
        }
        assert ("category", "billing") in flagged, flagged
        assert not any(dim == "category" and value != "billing" for dim, value in flagged), flagged
        assert report["verdict"]["decision"] == "no-go", report["verdict"]

        # And the table view says so too
        table = run_cli(gw.url, ["shadow", "report"])
        assert table.returncode == 0 and "billing" in table.stdout and "no-go" in table.stdout.lower()
