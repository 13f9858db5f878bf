"""Canary stories on sim backends with a hand-moved clock (CN1-CN4, DF4, MW1).

Everything is real except time: two sim model servers, slipway on loopback
with its SQLite store, traffic through the gateway with labels sent later as
feedback, a webhook receiver. The clock is moved by the test, so a 2-hour
phase passes in one call and every check is one the test asked for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import (
    MINUTE,
    canary,
    check_after,
    deploy_canary,
    rows,
    story,
    traffic,
    wait_for_look,
)
from tests.harness import Gateway
from tests.processes import run_cli
from tests.webhooks import Hook, webhook_receiver

from slipway.core.records import RequestRecord

BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.4}
"""
SLOW = """\
categories:
  billing: {keywords: [refund, invoice], latency_ms: 500}
  shipping: {keywords: [parcel, delivery], latency_ms: 500}
"""


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver(fail_first=1) as h:
        yield h


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_a_category_regression_is_caught_rolled_back_and_notified(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, candidate_extra=BAD_BILLING):
        # Given v2.2 answers billing wrong 60 % of the time, deployed as a canary at 10 %
        out = deploy_canary(gw, "10%:2h,50%:2h,100%")
        assert out["deployment"]["status"] == "canary"
        assert out["canary"]["weight_pct"] == 10 and out["canary"]["status"] == "running"
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["weights_pct"] == {"blue": 90, "green": 10}
        hook.wait_for("canary.started")

        # When traffic flows and its labels arrive, and the first check falls due 15 minutes in
        served = await traffic(gw.url, 1200)
        assert 60 < served["green"] < 200
        data = check_after(gw, clock, 15)

        # Then the canary is halted at once: weight 0 %, everything on blue, the candidate still loaded
        c = data["canary"]
        assert (c["status"], c["weight_pct"], c["looks"]) == ("rolled_back", 0, 1)
        billing = rows(data)[("accuracy", "billing")]
        assert billing["action"] == "rollback" and billing["candidate"] < 0.6 < 0.9 < billing["baseline"]
        assert rows(data)[("accuracy", "shipping")]["action"] == "pass"
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["active"] == "blue" and status["route"]["weights_pct"] == {}
        assert "green" in {s["name"] for s in status["slots"]}
        after = await traffic(gw.url, 50, labels=False)
        assert after == {"blue": 50}
        deps = httpx.get(f"{gw.url}/admin/deployments").json()["deployments"]
        assert deps[0]["status"] == "rolled_back" and deps[0]["strategy"] == "canary"
        kinds = [c["kind"] for c in httpx.get(f"{gw.url}/admin/history").json()["changes"]]
        assert kinds[:3] == ["rollback", "canary", "slot"]

        # And the on-call engineer got the metric table (the webhook's first answer was a 503: retried)
        note = hook.wait_for("canary.rolled_back")
        assert "rolled back at 10%" in note["text"] and "billing" in note["text"]
        table = next(b for b in note["blocks"] if "text" in b and b["text"]["text"].startswith("```"))
        assert "accuracy" in table["text"]["text"] and "billing" in table["text"]["text"]
        assert note["attachments"][0]["color"] == "#e01e5a"
        assert any(f["title"] == "accuracy [billing]" for f in note["attachments"][0]["fields"])
        assert [e["kind"] for e in data["events"]][:2] == ["rollback", "check"]

        # And `canary status` shows each metric's effect, interval and p in a cell; --explain the test
        assert re.match(r"\+\d+\.\d pts drop \(-?\+?\d+\.\d … \+\d+\.\d\), p=", billing["summary"]), billing
        shown = run_cli(gw.url, ["canary", "status"], env={"COLUMNS": "200"})
        assert shown.returncode == 0, shown.stderr
        assert billing["summary"] in shown.stdout and "mSPRT" not in shown.stdout
        explained = run_cli(gw.url, ["canary", "status", "--explain"], env={"COLUMNS": "200"})
        assert "mSPRT" in explained.stdout and "level" in explained.stdout

        # And the ended canary takes no more commands
        r = httpx.post(f"{gw.url}/admin/canary/promote", json={})
        assert r.status_code == 409 and "has ended" in r.json()["error"]["message"]


async def test_a_guard_check_rolls_a_regression_back_before_the_first_scheduled_check(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, candidate_extra=BAD_BILLING):
        # Given v2.2 answers billing wrong 60 % of the time, at 10 %: checks every 15 min, guards every 1 min
        out = deploy_canary(gw, "10%:2h,50%:2h,100%")
        assert out["canary"]["guard_interval_s"] == MINUTE
        hook.wait_for("canary.started")
        served = await traffic(gw.url, 1200)
        assert 60 < served["green"] < 200

        # When two minutes pass: no scheduled check is due yet (the first falls at 15 min)
        clock.advance(2 * MINUTE)
        data = wait_for_look(gw, 1)

        # Then a guard check has rolled it back already: weight 0 %, everything on blue
        c = data["canary"]
        assert (c["status"], c["weight_pct"], c["looks"]) == ("rolled_back", 0, 1)
        assert c["last_check_at"] - c["started_at"] < 15 * MINUTE
        assert rows(data)[("accuracy", "billing")]["action"] == "rollback"
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["weights_pct"] == {}
        events = data["events"]
        assert [e["kind"] for e in events][:2] == ["rollback", "check"]
        assert events[1]["reason"].startswith("guard check: rollback")
        assert "guard check" in events[0]["reason"]

        # And it is notified like any rollback, with the metric table
        note = hook.wait_for("canary.rolled_back")
        assert "rolled back at 10%" in note["text"] and "guard check" in note["text"]
        assert note["attachments"][0]["color"] == "#e01e5a"


async def test_an_identical_candidate_is_promoted_to_100_percent(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        deploy_canary(gw, "20%:30m,50%:30m,100%")
        await traffic(gw.url, 600)
        assert check_after(gw, clock, 15)["canary"]["last_verdict"]["action"] == "pass"
        data = check_after(gw, clock, 15)
        assert (data["canary"]["phase"], data["canary"]["weight_pct"]) == (2, 50)
        hook.wait_for("canary.phase")
        await traffic(gw.url, 300)
        check_after(gw, clock, 15)
        data = check_after(gw, clock, 15)

        c = data["canary"]
        assert (c["status"], c["weight_pct"]) == ("promoted", 100)
        assert c["monitoring"]["left_s"] == pytest.approx(7 * 86400)
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert (status["route"]["active"], status["route"]["previous_active"]) == ("green", "blue")
        assert status["route"]["weights_pct"] == {}
        assert httpx.get(f"{gw.url}/admin/deployments").json()["deployments"][0]["status"] == "live"
        assert httpx.get(f"{gw.url}/admin/history").json()["changes"][0]["kind"] == "promote"
        note = hook.wait_for("canary.promoted")
        assert "every 5 min for the first hour" in note["blocks"][1]["text"]["text"]

        # The monitoring window checks again 5 minutes later...
        await traffic(gw.url, 200)
        assert check_after(gw, clock, 5)["canary"]["status"] == "promoted"
        # ...and a rollback inside it is one command, with no re-analysis.
        back = httpx.post(f"{gw.url}/admin/rollback", json={"reason": "complaints"}).json()
        assert (back["from"], back["to"], back["canary"]) == ("green", "blue", "rolled_back")
        assert canary(gw.url)["canary"]["status"] == "rolled_back"
        hook.wait_for("canary.rolled_back")


async def test_a_latency_regression_is_held_for_investigation_and_never_promoted(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, candidate_extra=SLOW):
        deploy_canary(gw, "25%:30m,100%")
        await traffic(gw.url, 1200, concurrency=24, labels=False)
        data = check_after(gw, clock, 15)
        c = data["canary"]
        assert (c["status"], c["weight_pct"]) == ("investigating", 25), "\n".join(
            f"{m['metric']} {m['category']}: {m['action']} — {m['detail']}"
            for m in c["last_verdict"]["metrics"]
        )
        latency = rows(data)[("latency_p95", None)]
        assert latency["action"] == "investigate" and latency["candidate"] > 450 > 300 > latency["baseline"]
        note = hook.wait_for("canary.investigating")
        assert note["slipway"]["severity"] == "warning"

        # The phase ends while it holds: no promotion, same weight.
        data = check_after(gw, clock, 15)
        assert (data["canary"]["status"], data["canary"]["phase"], data["canary"]["weight_pct"]) == (
            "investigating",
            1,
            25,
        )
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["weights_pct"] == {"blue": 75, "green": 25}


async def test_operators_pause_resume_and_abort_and_a_running_canary_blocks_other_deploys(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        deploy_canary(gw, "10%:1h,100%")
        again = httpx.post(
            f"{gw.url}/admin/deploy", json={"version": "v2.3", "slot": "green", "no_smoke": True}, timeout=30
        )
        assert again.status_code == 409 and "canary of v2.2 is running" in again.json()["error"]["message"]

        clock.advance(20 * 60)
        paused = httpx.post(f"{gw.url}/admin/canary/pause", json={"reason": "looking at logs"}).json()
        assert paused["canary"]["status"] == "paused" and paused["canary"]["phase_left_s"] == 40 * 60
        assert httpx.post(f"{gw.url}/admin/canary/pause", json={}).status_code == 409
        clock.advance(3 * 3600)
        resumed = httpx.post(f"{gw.url}/admin/canary/resume", json={}).json()["canary"]
        assert (resumed["status"], resumed["phase_left_s"]) == ("running", 40 * 60)

        # --unload on a server slipway does not run: nothing to release, the slot stays defined.
        aborted = httpx.post(
            f"{gw.url}/admin/canary/abort", json={"reason": "wrong build", "unload": True}
        ).json()
        assert (aborted["canary"]["status"], aborted["canary"]["weight_pct"]) == ("aborted", 0)
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["weights_pct"] == {}
        # Checks went on while paused (they found too little traffic: inconclusive, no phase end yet).
        events = [e["kind"] for e in canary(gw.url)["events"]]
        assert [e for e in events if e != "check"] == ["abort", "resume", "pause", "start"]
        assert "check" in events[events.index("resume") : events.index("pause")]
        assert "green" in {s["name"] for s in httpx.get(f"{gw.url}/admin/status").json()["slots"]}
        assert "is released" in hook.wait_for("canary.aborted")["blocks"][1]["text"]["text"]


async def test_editing_the_routing_file_during_a_canary_keeps_its_candidate_and_split(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        deploy_canary(gw, "20%:1h,100%")
        text = gw.config_path.read_text().replace("timeout_s: 2", "timeout_s: 3")
        gw.config_path.write_text(text)
        deadline = time.monotonic() + 10
        while httpx.get(f"{gw.url}/admin/history").json()["changes"][0]["kind"] != "config":
            assert time.monotonic() < deadline, "the file edit was not applied"
            time.sleep(0.05)
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["weights_pct"] == {"blue": 80, "green": 20}
        assert {s["name"]: s["version"] for s in status["slots"]}["green"] == "v2.2"
        await traffic(gw.url, 20, labels=False)
        c = check_after(gw, clock, 15)["canary"]
        assert (c["status"], c["weight_pct"]) == ("running", 20)


async def served_before(gw: Gateway, n: int, over_s: float) -> None:
    """n requests, evenly over the last `over_s` seconds, as the recorder would have stored them."""
    now = time.time()
    assert gw.runtime.store is not None
    await gw.runtime.store.write_records(
        [
            RequestRecord(
                f"past{i:06d}", now - over_s + i * over_s / n, "blue", "v2.1", "openai_chat", False, 1
            )
            for i in range(n)
        ]
    )


async def test_a_canary_deploy_warns_when_its_first_phase_cannot_see_enough_traffic(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        # Given a gateway that served 60 requests in its last hour (1,440 a day, said as ~1,400: the
        # records carry the real clock, so the rate read a moment later is a little lower)
        await served_before(gw, 60, 3600)

        # When v2.2 is deployed with the seed's plan through the CLI
        out = run_cli(gw.url, ["deploy", "v2.2", "--strategy", "canary", "--slot", "green", "--no-smoke"])

        # Then the deploy goes ahead and says why the 5 % × 2 h phase will roll back, and what fits
        assert out.returncode == 0, out.stdout + out.stderr
        text = " ".join(out.stdout.split())
        assert "warning: at the traffic this gateway served lately (~1,400 requests/day)" in text, text
        assert "sends the candidate about 6 requests, and a verdict needs 100 per arm" in text, text
        assert "roll the candidate back (inconclusive: rollback)" in text, text
        steps = re.search(r"--steps (\S+)", text)
        assert steps and steps.group(1).startswith("5%:") and steps.group(1) != "5%:2h,25%:4h,100%", text
        dep = httpx.get(f"{gw.url}/admin/deployments").json()
        assert "1,400 requests/day" in str(dep), dep


async def test_no_traffic_warning_when_the_first_phase_sees_enough_or_traffic_just_began(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        # 600 requests in the last 2 minutes (432,000 a day) after a quiet hour: no warning.
        await served_before(gw, 600, 120)
        out = deploy_canary(gw, "5%:2h,25%:4h,100%")
        assert "warnings" not in out["deployment"]["detail"], out["deployment"]["detail"]
        httpx.post(f"{gw.url}/admin/abort", json={}, timeout=30)
    (tmp_path / "fresh").mkdir()
    for gw in story(tmp_path / "fresh", hook, clock):
        # Traffic for a few seconds only: too little to estimate a rate, so nothing is claimed.
        await traffic(gw.url, 20, labels=False)
        out = deploy_canary(gw, "5%:2h,25%:4h,100%")
        assert "warnings" not in out["deployment"]["detail"], out["deployment"]["detail"]


async def test_requests_a_client_pins_to_the_candidate_cannot_roll_it_back(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        # Given an identical v2.2 canary at 20 % with honest traffic and labels
        deploy_canary(gw, "20%:30m,50%:30m,100%")
        await traffic(gw.url, 600)

        # When a client pins 300 billing requests to the candidate and labels every answer wrong
        async with httpx.AsyncClient(base_url=gw.url, timeout=30) as client:
            pinned_ids = []
            for i in range(300):
                r = await client.post(
                    "/v1/chat/completions",
                    headers={"x-slipway-slot": "green", "x-slipway-category": "billing"},
                    json={"model": "m", "messages": [{"role": "user", "content": f"refund invoice {i}"}]},
                )
                assert r.status_code == 200 and r.headers["x-slipway-slot"] == "green"
                pinned_ids.append(r.headers["x-slipway-request-id"])
                fb = await client.post("/v1/feedback", json={"request_id": pinned_ids[-1], "label": "spam"})
                assert fb.status_code == 200, fb.text
            kept = (await client.get(f"/admin/requests/{pinned_ids[0]}")).json()["request"]
            assert kept["pinned"] is True and kept["slot"] == "green"

        # Then the check judges only what the route table sent: the canary passes
        data = check_after(gw, clock, 15)
        assert data["canary"]["status"] == "running"
        assert data["canary"]["last_verdict"]["action"] == "pass"
        billing = rows(data)[("accuracy", "billing")]
        assert billing["action"] == "pass" and billing["candidate"] > 0.9
