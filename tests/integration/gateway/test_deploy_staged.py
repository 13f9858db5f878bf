"""A deploy staged with --no-switch goes live when an operator switches to it."""

from __future__ import annotations

import httpx
from tests.harness import Gateway


def test_a_staged_deploy_goes_live_on_switch(gateway: Gateway, green_url: str) -> None:
    r = httpx.post(
        f"{gateway.url}/admin/deploy",
        json={"version": "v2.3", "slot": "green", "endpoint": green_url, "no_smoke": True, "switch": False},
    )
    assert r.status_code == 200, r.text
    dep = r.json()["deployment"]
    assert dep["status"] == "staged"
    assert httpx.get(f"{gateway.url}/admin/status").json()["route"]["active"] == "blue"

    assert httpx.post(f"{gateway.url}/admin/switch", json={"to": "green"}).status_code == 200
    deps = httpx.get(f"{gateway.url}/admin/deployments").json()["deployments"]
    live = next(d for d in deps if d["id"] == dep["id"])
    assert (live["status"], live["previous_slot"]) == ("live", "blue")
