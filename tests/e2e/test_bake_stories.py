"""Bake stories: a blue-green deploy is watched after its switch and rolled back by slipway itself.

Everything is real except time: two sim model servers, slipway on loopback
with its SQLite store, traffic with labels through the gateway, a webhook
receiver. The clock is moved by the test; the reference traffic is the old
version's own, served before the switch.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.clock import ManualClock
from tests.e2e.canary_story import MINUTE, canary, check_after, rows, traffic
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli
from tests.webhooks import Hook, webhook_receiver

BAD_BILLING = """\
categories:
  billing: {keywords: [refund, invoice], accuracy: 0.4}
"""
DAY = 24 * 60 * MINUTE


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_receiver() as h:
        yield h


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def story(
    tmp_path: Path, hook: Hook, clock: ManualClock, candidate_extra: str = "", bake: str = ""
) -> Iterator[Gateway]:
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
        live_gateway(tmp_path, routing_yaml(blue, green, extra=notify + bake), clock=clock) as gw,
    ):
        yield gw


def deploy_bluegreen(gw: Gateway) -> dict[str, Any]:
    r = httpx.post(
        f"{gw.url}/admin/deploy",
        json={"version": "v2.2", "strategy": "bluegreen", "slot": "green", "no_smoke": True},
        headers={"x-slipway-actor": "ann"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_a_regressed_version_deployed_blue_green_is_rolled_back_by_its_bake(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, candidate_extra=BAD_BILLING):
        # Given v2.1 served the day's traffic, and its labels came back
        assert await traffic(gw.url, 600) == {"blue": 600}
        # When v2.2, which answers billing wrong 60 % of the time, is deployed blue-green
        out = deploy_bluegreen(gw)
        assert out["deployment"]["status"] == "live"
        bake = out["canary"]
        assert (bake["kind"], bake["status"], bake["baseline"], bake["candidate"]) == (
            "bake", "promoted", "blue", "green",
        )  # fmt: skip
        metrics = httpx.get(f"{gw.url}/metrics").text
        assert 'slipway_canary_info{kind="bake",status="promoted",version="v2.2"} 1.0' in metrics, metrics
        hook.wait_for("bake.started")
        assert await traffic(gw.url, 600) == {"green": 600}

        # Then the first monitoring check, 5 minutes in, compares it with v2.1's own traffic before the
        # switch and switches back by itself: no script, no person
        data = check_after(gw, clock, 5)
        c = data["canary"]
        assert (c["status"], c["looks"]) == ("rolled_back", 1), c
        billing = rows(data)[("accuracy", "billing")]
        assert billing["action"] == "rollback" and billing["candidate"] < 0.6 < 0.9 < billing["baseline"]
        assert billing["n_baseline"] >= 250 and billing["n_candidate"] >= 250
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["active"] == "blue" and "green" in {s["name"] for s in status["slots"]}
        assert await traffic(gw.url, 20, labels=False) == {"blue": 20}
        changes = httpx.get(f"{gw.url}/admin/history").json()["changes"]
        assert [ch["kind"] for ch in changes[:2]] == ["rollback", "deploy"], changes
        assert changes[0]["actor"] == "slipway (bake)", changes[0]
        assert changes[0]["reason"].startswith("bake of v2.2: monitoring window: rollback"), changes[0]
        deps = httpx.get(f"{gw.url}/admin/deployments").json()["deployments"]
        assert (deps[0]["status"], deps[0]["strategy"]) == ("rolled_back", "bluegreen")
        note = hook.wait_for("bake.rolled_back")
        assert "billing" in note["text"] or "billing" in note["title"], note
        # And the summary follows: what changed, what was checked, what was found, what to do next
        summary = hook.wait_for("bake.summary")["slipway"]
        assert summary["title"].startswith("summary: the bake of v2.2 ended rolled back"), summary
        assert [line.split(":")[0] for line in summary["text"].splitlines()] == [
            "What changed", "What was checked", "What was found", "What to do next",
        ]  # fmt: skip


async def test_an_identical_version_bakes_for_a_week_ends_stable_and_the_old_one_is_unloaded(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, bake="bake: {unload_when_stable: true}\n"):
        await traffic(gw.url, 400)
        deployed = run_cli(
            gw.url, ["deploy", "v2.2", "--strategy", "bluegreen", "--slot", "green", "--no-smoke"]
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "Baking: checked against blue's own traffic before the switch" in " ".join(
            deployed.stdout.split()
        )
        assert canary(gw.url)["canary"]["kind"] == "bake"
        shown = run_cli(gw.url, ["bake", "status"], env={"COLUMNS": "200"})
        assert shown.returncode == 0, shown.stdout + shown.stderr
        assert (
            "bake of v2.2 promoted" in shown.stdout and "blue's own traffic before the switch" in shown.stdout
        )
        await traffic(gw.url, 400)
        c = check_after(gw, clock, 5)["canary"]
        assert (c["status"], c["looks"]) == ("promoted", 1), c
        assert c["last_verdict"]["action"] != "rollback"
        # Each check says which categories it could vouch for: labels so far against labels needed.
        covered = {r["category"]: r for r in c["last_verdict"]["extra"]["coverage"]}
        assert set(covered) == {"billing", "shipping"} and covered["billing"]["labels_candidate"] == 200, (
            covered
        )
        shown = run_cli(gw.url, ["bake", "status"], env={"COLUMNS": "200"})
        assert (
            "coverage: every category with 5 % or more of the traffic has enough labels" in shown.stdout
            or ("not covered: billing" in shown.stdout)
        ), shown.stdout
        c = check_after(gw, clock, 7 * DAY / MINUTE)["canary"]
        assert c["status"] == "stable", c
        hook.wait_for("bake.stable")
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "green"

        # Stable, and configured so: v2.1's model leaves its server's memory; the slot stays routable.
        unloaded = hook.wait_for("slot.unloaded")
        assert "blue (customer-support-v2.1) unloaded by slipway (bake)" in str(unloaded), unloaded
        status = httpx.get(f"{gw.url}/admin/status").json()
        slots = {s["name"]: s for s in status["slots"]}
        assert slots["blue"]["unloaded"]["by"] == "slipway (bake)" and "unloaded" not in slots["green"]
        blue_sim = slots["blue"]["endpoint"]
        assert httpx.get(f"{blue_sim}/sim/stats").json()["loaded"] is False
        shown = run_cli(gw.url, ["status"], env={"COLUMNS": "200"})
        assert "standby, unloaded" in shown.stdout and "slipway load blue" in shown.stdout, shown.stdout
        # The version serving everything cannot be unloaded.
        refused = run_cli(gw.url, ["unload", "green"])
        assert refused.returncode != 0 and "carries traffic" in refused.stderr, refused.stderr

        # At 3 a.m. a rollback to the unloaded version just works: it is loaded first.
        back = run_cli(gw.url, ["rollback", "--reason", "late regression"])
        assert back.returncode == 0, back.stdout + back.stderr
        stats = httpx.get(f"{blue_sim}/sim/stats").json()
        assert (stats["loaded"], stats["loads"]) == (True, 1), stats
        status = httpx.get(f"{gw.url}/admin/status").json()
        assert status["route"]["active"] == "blue"
        assert all("unloaded" not in s for s in status["slots"])
        hook.wait_for("slot.loaded")


async def test_with_bake_off_a_blue_green_deploy_only_switches(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, bake="bake: {after_switch: false}\n"):
        out = deploy_bluegreen(gw)
        assert out["deployment"]["status"] == "live" and "canary" not in out
        assert canary(gw.url)["canary"] is None
        shown = run_cli(gw.url, ["bake", "status"])
        assert shown.returncode == 0 and "no bake yet" in shown.stdout, shown.stdout + shown.stderr


async def test_a_staged_version_switched_in_by_hand_is_baked_and_a_switch_back_is_not(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock, candidate_extra=BAD_BILLING):
        await traffic(gw.url, 600)
        staged = run_cli(
            gw.url,
            ["deploy", "v2.2", "--strategy", "bluegreen", "--slot", "green", "--no-smoke", "--no-switch"],
        )
        assert staged.returncode == 0, staged.stdout + staged.stderr
        assert canary(gw.url)["canary"] is None  # staged: nothing serves it, nothing to bake yet
        switched = run_cli(gw.url, ["switch", "green", "--reason", "v2.2 looked fine in staging"])
        assert switched.returncode == 0, switched.stdout + switched.stderr
        bake = canary(gw.url)["canary"]
        assert (bake["kind"], bake["status"], bake["version"], bake["baseline"]) == (
            "bake",
            "promoted",
            "v2.2",
            "blue",
        )
        await traffic(gw.url, 600)
        assert check_after(gw, clock, 5)["canary"]["status"] == "rolled_back"
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "blue"

        # Switching to v2.2 again by hand is the operator's call; it is no new version, so no new bake.
        again = run_cli(gw.url, ["switch", "green", "--reason", "investigating"])
        assert again.returncode == 0, again.stdout + again.stderr
        assert canary(gw.url)["canary"]["deployment_id"] == bake["deployment_id"]


async def test_a_reference_too_short_of_labels_is_said_when_the_bake_starts(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    for gw in story(tmp_path, hook, clock):
        # v2.1 served a little, with labels for only a few of its answers
        await traffic(gw.url, 40, labels=False)
        await traffic(gw.url, 20)
        deployed = run_cli(
            gw.url, ["deploy", "v2.2", "--strategy", "bluegreen", "--slot", "green", "--no-smoke"]
        )
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        said = " ".join(deployed.stdout.split())
        assert "warning: blue's traffic before the switch" in said, said
        assert "too few labels to judge billing: 10 labels" in said, said
        assert "bake.reference" in said, said
        started = hook.wait_for("bake.started")
        assert "the reference cannot judge billing, shipping" in str(started), started
        dep = httpx.get(f"{gw.url}/admin/deployments?limit=1").json()["deployments"][0]
        assert [g.split(":")[0] for g in dep["detail"]["bake"]["reference_gaps"]] == ["billing", "shipping"]


async def test_a_bake_waits_to_switch_back_until_the_old_slot_answers_again(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    notify = f'notify: {{webhooks: ["{hook.url}"], timeout_s: 2}}\n'
    blue_server = sim_backend(sim_profile("cs-v2.1", "v2.1"))
    blue = blue_server.__enter__()
    try:
        with (
            sim_backend(sim_profile("cs-v2.2", "v2.2", extra=BAD_BILLING), seed=1) as green,
            live_gateway(tmp_path, routing_yaml(blue, green, extra=notify), clock=clock) as gw,
        ):
            await traffic(gw.url, 600)
            assert deploy_bluegreen(gw)["deployment"]["status"] == "live"
            # The old version's server dies while the new one serves everything.
            blue_server.__exit__(None, None, None)
            await traffic(gw.url, 600)
            clock.advance(5 * MINUTE)
            # A switch to a dead slot would be an outage: traffic stays, and people are told.
            blocked = hook.wait_for("bake.switch_blocked")
            c = canary(gw.url)["canary"]
            assert (c["status"], c["route_pending"]) == ("rolled_back", True), c
            rolled = hook.wait_for("bake.rolled_back")
            assert "the switch back waits: blue is not answering, so traffic stays on green" in str(rolled)
            assert "must switch to blue, but slot 'blue'" in str(
                blocked
            ) and "slipway rollback --force" in str(blocked)
            assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "green"
            # It answers again: the pending switch back is made at the next wake.
            blue_server = sim_backend(sim_profile("cs-v2.1", "v2.1"), port=int(blue.rsplit(":", 1)[1]))
            blue_server.__enter__()
            clock.advance(6 * MINUTE)
            deadline = time.monotonic() + 20
            while httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] != "blue":
                assert time.monotonic() < deadline, "the bake never switched back"
                clock.advance(6 * MINUTE)
                time.sleep(0.1)
            assert [b["slipway"]["event"] for b in hook.bodies()].count("bake.switch_blocked") == 1
    finally:
        blue_server.__exit__(None, None, None)


async def test_a_bake_with_short_windows_ends_stable_when_its_last_window_ends(
    tmp_path: Path, hook: Hook, clock: ManualClock
) -> None:
    # A canary's windows are left at the default: the bake's are its own.
    for gw in story(tmp_path, hook, clock, bake="bake: {windows: '10m every 5m'}\n"):
        await traffic(gw.url, 400)
        out = deploy_bluegreen(gw)
        bake = out["canary"]
        assert (bake["kind"], bake["windows"], bake["stable_after_s"]) == ("bake", ["10m every 5m"], 600)
        started = hook.wait_for("bake.started")
        assert "every 5 min for the first 10 min. A rollback verdict" in str(started), started
        await traffic(gw.url, 400)
        # Clean at 5 minutes, and not yet stable: one window, ten minutes long.
        c = check_after(gw, clock, 5)["canary"]
        assert (c["status"], c["looks"]) == ("promoted", 1), c
        assert c["monitoring"]["left_s"] == pytest.approx(5 * MINUTE)
        # Clean at 10 minutes: stable, not a week later.
        c = check_after(gw, clock, 5)["canary"]
        assert (c["status"], c["looks"]) == ("stable", 2), c
        assert c["reason"] == "10 min of clean checks after promotion", c
        stable = hook.wait_for("bake.stable")
        assert "v2.2 is stable after 10 min" in str(stable), stable
        assert httpx.get(f"{gw.url}/admin/status").json()["route"]["active"] == "green"
