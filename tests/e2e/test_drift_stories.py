"""Input drift on a live gateway: the active version's mix against its own first requests.

Real parts: slipway on loopback with its SQLite store, two simulator
servers, clients through the gateway, a webhook receiver. The loops' clock
is moved by the test; the decision is the real comparison of the records.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from tests.clock import ManualClock
from tests.e2e.canary_story import traffic
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli, slipway_serve
from tests.webhooks import Hook, webhook_receiver

DRIFT = "drift: {interval: 1m, window: 300, reference: 600}\n"


async def billing_only(url: str, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        for i in range(n):
            r = await client.post(
                "/v1/chat/completions",
                headers={"x-slipway-category": "billing"},
                json={"model": "m", "messages": [{"role": "user", "content": f"my invoice is wrong #{i}"}]},
            )
            assert r.status_code == 200, r.text


def drift_after_a_check(
    gw: Gateway,
    clock: ManualClock,
    state: str,
    *,
    confirmed: bool = False,
    after: float = 0.0,
    timeout: float = 20.0,
) -> dict[str, Any]:
    """Move the clock past the interval until a comparison made after `after` says `state`."""
    deadline = time.monotonic() + timeout
    while True:
        clock.advance(61)
        drift: dict[str, Any] | None = httpx.get(f"{gw.url}/admin/status").json()["drift"]
        if (
            drift is not None
            and drift["state"] == state
            and drift["at"] > after
            and (not confirmed or drift["confirmed"])
        ):
            return drift
        assert time.monotonic() < deadline, drift
        time.sleep(0.1)


async def test_a_category_that_takes_over_is_flagged_once_and_shown(tmp_path: Path) -> None:
    clock = ManualClock()
    hook: Hook
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        webhook_receiver() as hook,
    ):
        notify = textwrap.dedent(f'notify: {{webhooks: ["{hook.url}"], timeout_s: 2}}\n')
        with live_gateway(tmp_path, routing_yaml(blue, green, extra=notify + DRIFT), clock=clock) as gw:
            # Until v2.1 has its first 600 requests, there is no reference to compare with.
            await traffic(gw.url, 200, labels=False)
            building = drift_after_a_check(gw, clock, "building")
            assert (building["reference_requests"], building["reference_needed"]) == (200, 600)
            # Half billing, half shipping: the reference; the same mix after it is steady.
            await traffic(gw.url, 700, labels=False)
            steady = drift_after_a_check(gw, clock, "steady")
            assert steady["version"] == "customer-support-v2.1" and steady["live_requests"] == 300
            # Then billing takes over the latest window.
            await billing_only(gw.url, 240)
            drifted = drift_after_a_check(gw, clock, "drifted")
            (category,) = [d for d in drifted["dimensions"] if d["dimension"] == "category"]
            rose = re.search(r"billing rose from (\d+)% to (\d+)%", category["words"])
            assert category["drifted"] and rose is not None, category
            assert 45 <= int(rose.group(1)) <= 55 and int(rose.group(2)) >= 80, category
            # Two comparisons in a row agree (tests/integration/drift checks one alone tells nobody).
            assert drift_after_a_check(gw, clock, "drifted", confirmed=True)["confirmed"] == ["category"]
            told = hook.wait_for("drift.detected")
            assert "input drift since customer-support-v2.1's first 600 requests: category" in told["text"], (
                told
            )
            metrics = httpx.get(f"{gw.url}/metrics").text
            assert 'slipway_input_drift{dimension="category"} 1.0' in metrics
            shown = run_cli(gw.url, ["status"], env={"COLUMNS": "250"})
            assert (
                "input drift since customer-support-v2.1's first 600 requests: category: drifted"
                in shown.stdout
            )
            # Another check of the same drift tells nobody again.
            looked = httpx.get(f"{gw.url}/admin/status").json()["drift"]["at"]
            again = drift_after_a_check(gw, clock, "drifted", after=looked)
            assert again["confirmed"] == ["category"]
            await asyncio.sleep(0.5)
            events = [b["slipway"]["event"] for b in hook.bodies()]
            assert events.count("drift.detected") == 1, events
            # The mix comes back: told once more, as cleared.
            await traffic(gw.url, 300, labels=False)
            drift_after_a_check(gw, clock, "steady")
            assert "category" in str(hook.wait_for("drift.cleared"))


SHORT = "Where is my parcel? It has not arrived yet."
LONG = (
    "Where is my parcel? "
    + "It left the depot, then nothing, and the tracking page says nothing at all. " * 14
)


async def tickets(url: str, n: int, long_every: int) -> None:
    """`n` chat requests through the openai client, billing and shipping in turn, every
    `long_every`-th one a long message (>1000 characters)."""
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused")
    try:
        for i in range(n):
            await client.chat.completions.create(
                model="customer-support",
                messages=[{"role": "user", "content": LONG if i % long_every == 0 else SHORT}],
                extra_headers={"X-Slipway-Category": "billing" if i % 2 else "shipping"},
            )
    finally:
        await client.close()


def drift_report(url: str, ok: Any, timeout: float = 60.0) -> dict[str, Any]:
    """Poll `/admin/status` until the kept comparison satisfies `ok` (the drill clock runs the checks)."""
    deadline = time.monotonic() + timeout
    while True:
        drift: dict[str, Any] | None = httpx.get(f"{url}/admin/status").json()["drift"]
        if drift is not None and ok(drift):
            return drift
        assert time.monotonic() < deadline, drift
        time.sleep(0.1)


async def test_long_inputs_rising_is_reported_on_length_by_a_real_slipway_serve(tmp_path: Path) -> None:
    # The control loops on a drill clock: a 1-minute drift interval is a check every 0.1 s.
    env = {"SLIPWAY_CLOCK_SCALE": "600", "SLIPWAY_CLOCK_ANCHOR": repr(time.time())}
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, extra=DRIFT))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"], env=env) as gw:
            # v2.1's first 600 requests are its reference: 5 % long inputs; then 300 more alike.
            await tickets(gw.url, 900, long_every=20)
            sent = time.time()
            steady = drift_report(gw.url, lambda d: d["state"] != "building" and d["at"] > sent)
            assert (steady["state"], steady["live_requests"], steady["live_inputs"]) == ("steady", 300, 300)
            assert {d["dimension"] for d in steady["dimensions"] if d["judged"]} == {
                "category", "length", "script", "code", "json", "numbers", "turns",
            }  # fmt: skip

            # Then a quarter of the inputs are long ones, the categories as before.
            await tickets(gw.url, 300, long_every=4)
            # (The checks run every 0.1 s: wait for one whose window holds only the new requests.)
            drifted = drift_report(
                gw.url,
                lambda d: "length" in d.get("confirmed", []) and "to 25%" in json.dumps(d["dimensions"]),
            )
            assert drifted["confirmed"] == ["length"], drifted["dimensions"]
            (length,) = [d for d in drifted["dimensions"] if d["dimension"] == "length"]
            assert "long inputs (>1000 chars) rose from 5% to 25%" in length["words"], length
            metrics = httpx.get(f"{gw.url}/metrics").text
            assert 'slipway_input_drift{dimension="length"} 1.0' in metrics
            assert 'slipway_input_drift{dimension="category"} 0.0' in metrics
            shown = run_cli(gw.url, ["status"], env={"COLUMNS": "250"})
            assert (
                "input drift since customer-support-v2.1's first 600 requests: length: drifted: long inputs"
                in (shown.stdout)
            ), shown.stdout


def evaluation_suite(path: Path, billing: int, shipping: int) -> Path:
    """A suite worded as the tickets are (only the category differs), as `slipway eval add` reads it."""
    rows = [
        {"id": f"case-{i}", "prompt": SHORT, "expect": {"label": c}, "category": c}
        for i, c in enumerate(["billing"] * billing + ["shipping"] * shipping)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


async def evaluated_then_served(tmp_path: Path, reference_from: str, after_sent: Any) -> dict[str, Any]:
    """v2.1 evaluated on a suite of 20 % billing, then serving half billing and half shipping;
    the first comparison after all of it that satisfies `after_sent`."""
    env = {"SLIPWAY_CLOCK_SCALE": "600", "SLIPWAY_CLOCK_ANCHOR": repr(time.time())}
    drift = f"drift: {{interval: 1m, window: 300, reference: 600, reference_from: {reference_from}}}\n"
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        (tmp_path / "slipway.yaml").write_text(routing_yaml(blue, green, extra=drift))
        with slipway_serve(tmp_path, ["--config", "slipway.yaml"], env=env) as gw:
            suite = evaluation_suite(tmp_path / "support.jsonl", billing=60, shipping=240)
            added = run_cli(gw.url, ["eval", "add", "support", str(suite)])
            assert added.returncode == 0, added.stderr
            ran = run_cli(gw.url, ["eval", "run", "support", "--slot", "blue"], timeout=120)
            assert "support" in ran.stdout, (ran.stdout, ran.stderr)
            await tickets(gw.url, 900, long_every=1000)
            sent = time.time()
            found = drift_report(gw.url, lambda d: d["at"] > sent and after_sent(d))
            shown = run_cli(gw.url, ["status"], env={"COLUMNS": "250"})
            return found | {"shown": shown.stdout}


async def test_a_mix_unlike_the_versions_evaluation_is_flagged_against_it(tmp_path: Path) -> None:
    drifted = await evaluated_then_served(tmp_path, "auto", lambda d: d.get("confirmed"))
    assert drifted["confirmed"] == ["category"], drifted["dimensions"]
    assert drifted["reference_name"] == "customer-support-v2.1's evaluation", drifted
    assert drifted["reference_suite"] == "suite support v1 (300 cases)"
    (category,) = [d for d in drifted["dimensions"] if d["dimension"] == "category"]
    assert "billing rose from 20% to 50%" in category["words"], category
    line = next(x for x in drifted["shown"].splitlines() if x.startswith("input drift"))
    assert line.startswith(
        "input drift since customer-support-v2.1's evaluation (suite support v1 (300 cases)): "
        "category: drifted:"
    ), line
    assert "billing rose from 20% to 50%" in line, line


async def test_the_same_mix_is_steady_against_the_versions_first_requests(tmp_path: Path) -> None:
    steady = await evaluated_then_served(tmp_path, "traffic", lambda d: d["state"] != "building")
    assert (steady["state"], steady["reference"]) == ("steady", "traffic"), steady["dimensions"]
    assert "input drift: none since customer-support-v2.1's first 600 requests" in steady["shown"]


async def test_asked_to_compare_with_an_evaluation_that_never_ran_status_says_what_to_do(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    drift = "drift: {interval: 1m, window: 300, reference: 600, reference_from: evaluation}\n"
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, extra=drift), clock=clock) as gw,
    ):
        await traffic(gw.url, 50, labels=False)
        missing = drift_after_a_check(gw, clock, "no reference")
        assert missing["reference_missing"].startswith(
            "customer-support-v2.1 has no evaluation run (slipway eval run SUITE --slot blue); "
            "drift.reference_from is evaluation: set it to auto or traffic"
        ), missing
        shown = run_cli(gw.url, ["status"], env={"COLUMNS": "250"})
        assert (
            "input drift: no reference for customer-support-v2.1: customer-support-v2.1 has no evaluation run"
            in (shown.stdout)
        ), shown.stdout
