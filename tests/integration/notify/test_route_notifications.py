"""Every route change is told to every sink once: real gateway, real sim backends, real webhook receivers.

A canary or a shadow run announces its own route changes; the others (a
switch, a rollback, an adapter rollback, a config file, a blue-green
deploy's switch) are announced by the route controller where they are
committed. Either way each sink hears of each change exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.clock import ManualClock
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.webhooks import Hook, webhook_receiver

ANN = {"x-slipway-actor": "ann"}
BLUE = "blue (customer-support-v2.1)"
GREEN = "green (customer-support-v2.2)"


def notify_yaml(*hooks: Hook) -> str:
    urls = ", ".join(f'"{h.url}"' for h in hooks)
    return f"notify:\n  webhooks: [{urls}]\n  timeout_s: 2\n"


@pytest.fixture
def hooks() -> Iterator[tuple[Hook, Hook]]:
    with webhook_receiver(fail_first=1) as flaky, webhook_receiver() as steady:
        yield flaky, steady


def gateway(tmp_path: Path, hooks: tuple[Hook, Hook], urls: dict[str, str]) -> Iterator[Gateway]:
    config = routing_yaml(urls["blue"], urls["green"], extra=notify_yaml(*hooks))
    with live_gateway(tmp_path, config, watch=False, clock=ManualClock()) as gw:
        yield gw


@pytest.fixture
def sims() -> Iterator[dict[str, str]]:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as green,
    ):
        yield {"blue": blue, "green": green}


def post(gw: Gateway, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{gw.url}{path}", json=body or {}, headers=ANN, timeout=60)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def events(hook: Hook, prefix: str = "") -> list[dict[str, Any]]:
    return [b["slipway"] for b in hook.bodies() if b["slipway"]["event"].startswith(prefix)]


def settle(hook: Hook, count: int, prefix: str = "", timeout: float = 15.0) -> list[dict[str, Any]]:
    """The sink's notes once `count` with `prefix` arrived, and a moment later (so a duplicate would show)."""
    deadline = time.monotonic() + timeout
    while len(events(hook, prefix)) < count:
        assert time.monotonic() < deadline, [e["event"] for e in events(hook)]
        time.sleep(0.02)
    time.sleep(0.3)
    return events(hook)


def test_each_route_change_outside_a_rollout_reaches_each_sink_once(
    tmp_path: Path, hooks: tuple[Hook, Hook], sims: dict[str, str]
) -> None:
    for gw in gateway(tmp_path, hooks, sims):
        # Given a gateway started on an empty store (its first routes come from the file)
        # When ann switches, rolls back, rolls the adapter back, a file moves traffic, and a deploy switches
        post(gw, "/admin/switch", {"to": "green", "reason": "try v2.2"})
        post(gw, "/admin/rollback", {"reason": "billing answers look wrong"})
        post(gw, "/admin/adapters/rollback", {"reason": "the older adapter was fine"})
        text = routing_yaml(sims["blue"], sims["green"], active="blue", extra=notify_yaml(*hooks))
        gw.config_path.write_text("# blue again, after the adapter rollback\n" + text)
        assert post(gw, "/admin/reload")["applied"] is True
        deployed = post(
            gw,
            "/admin/deploy",
            {"version": "v2.3", "strategy": "bluegreen", "slot": "green", "no_smoke": True},
        )
        history = httpx.get(f"{gw.url}/admin/history").json()["changes"]

        # Then each sink heard of each change once, in order, in the words of who moved what where
        expected = ["route.config", "route.switch", "route.rollback", "route.adapter_rollback",
                    "route.config", "route.deploy"]  # fmt: skip
        for hook in hooks:
            notes = [n for n in settle(hook, len(expected), "route.") if n["event"].startswith("route.")]
            assert [n["event"] for n in notes] == expected
            versions = [int(n["facts"]["route version"]) for n in notes]
            # the staging before the deploy's switch (one version) is told with the switch
            assert versions == [1, 2, 3, 4, 5, deployed["route_version"]] == [1, 2, 3, 4, 5, 7]
            assert [c["version"] for c in history][:2] == [7, 6]
            first, switch, rollback, adapter, config, deploy = notes
            assert f"traffic on {BLUE}" in first["title"]
            assert switch["title"] == f"switched by ann: traffic moved from {BLUE} to {GREEN}"
            assert "Why: try v2.2" in switch["text"] and "Route v2" in switch["text"]
            assert rollback["title"] == f"rolled back by ann: traffic moved from {GREEN} to {BLUE}"
            assert rollback["severity"] == "warning" and switch["severity"] == "info"
            assert "billing answers look wrong" in rollback["text"]
            assert adapter["title"] == f"adapter rolled back by ann: traffic moved from {BLUE} to {GREEN}"
            assert adapter["severity"] == "warning"
            assert config["title"] == f"config file applied by ann: traffic moved from {GREEN} to {BLUE}"
            assert deploy["title"] == f"v2.3 deployed by ann: traffic moved from {BLUE} to green (v2.3)"
            assert deploy["facts"]["from"] == BLUE and deploy["facts"]["by"] == "ann"


def test_a_rollout_announces_its_own_route_changes_and_nothing_twice(
    tmp_path: Path, hooks: tuple[Hook, Hook], sims: dict[str, str]
) -> None:
    for gw in gateway(tmp_path, hooks, sims):
        # Given a canary of v2.2 at 10 %
        post(gw, "/admin/deploy", {"version": "v2.2", "strategy": "canary", "slot": "green",
                                    "no_smoke": True, "steps": "10%:2h,100%"})  # fmt: skip
        # When ann rolls it back, then shadows v2.2 and promotes it blue-green over its verdict
        post(gw, "/admin/rollback", {"reason": "not today"})
        post(
            gw, "/admin/deploy", {"version": "v2.2", "strategy": "shadow", "slot": "green", "no_smoke": True}
        )
        post(gw, "/admin/shadow/promote", {"via": "bluegreen", "force": True, "reason": "ship it"})
        # Then the canary and the shadow told of their own moves, and the route controller added nothing
        wanted = ["route.config", "canary.started", "canary.rolled_back", "shadow.started",
                  "shadow.stopped", "shadow.promoted"]  # fmt: skip
        for hook in hooks:
            seen = [n["event"] for n in settle(hook, 1, "shadow.promoted")]
            assert [e for e in seen if e in wanted or e.startswith("route.")] == wanted, seen
            assert seen.count("canary.rolled_back") == 1


def test_a_version_staged_without_a_switch_is_told_staged_then_switched(
    tmp_path: Path, hooks: tuple[Hook, Hook], sims: dict[str, str]
) -> None:
    for gw in gateway(tmp_path, hooks, sims):
        # When v2.3 is staged in green without a switch, and ann switches to it later
        post(gw, "/admin/deploy", {"version": "v2.3", "strategy": "bluegreen", "slot": "green",
                                    "no_smoke": True, "switch": False})  # fmt: skip
        post(gw, "/admin/switch", {"to": "green", "reason": "v2.3 reviewed"})
        # Then the staging and the switch are each told once
        for hook in hooks:
            notes = [n for n in settle(hook, 3, "route.") if n["event"].startswith("route.")]
            assert [n["event"] for n in notes] == ["route.config", "route.staged", "route.switch"]
            assert notes[1]["title"] == f"green (v2.3) staged by ann; traffic stays on {BLUE}"
            assert notes[2]["title"] == f"switched by ann: traffic moved from {BLUE} to green (v2.3)"
