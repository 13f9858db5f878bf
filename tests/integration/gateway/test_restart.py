"""A restart keeps all state: routes and their history, deployments, request records and feedback.

The second gateway opens the same SQLite file with the same, unchanged config
file, which must not undo what operators changed through the API; a file
edited while slipway was down is applied at start, like any other edit.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from tests.harness import live_gateway, routing_yaml


def chat(url: str) -> httpx.Response:
    r = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}], "user": "u1"},
    )
    assert r.status_code == 200, r.text
    return r


def test_restart_keeps_routes_history_records_and_feedback(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        assert (
            httpx.post(f"{gw.url}/admin/switch", json={"to": "green", "reason": "ship v2.2"}).status_code
            == 200
        )
        rid = chat(gw.url).headers["x-slipway-request-id"]
        fb = httpx.post(
            f"{gw.url}/v1/feedback", json={"request_id": rid, "satisfied": False, "label": "billing"}
        )
        assert fb.status_code == 200, fb.text
        before = httpx.get(f"{gw.url}/admin/history").json()["changes"]

    with live_gateway(tmp_path, None) as gw:
        st = httpx.get(f"{gw.url}/admin/status").json()
        assert (st["route"]["active"], st["route"]["previous_active"]) == ("green", "blue")
        assert chat(gw.url).headers["x-slipway-slot"] == "green"
        assert httpx.get(f"{gw.url}/admin/history").json()["changes"] == before
        got = httpx.get(f"{gw.url}/admin/requests/{rid}").json()
        assert got["request"]["slot"] == "green" and got["request"]["sticky_key"] == "u1"
        assert got["feedback"]["satisfied"] is False and got["feedback"]["label"] == "billing"
        # Rollback still knows where "back" is after the restart.
        back = httpx.post(f"{gw.url}/admin/rollback", json={}).json()
        assert (back["from"], back["to"]) == ("green", "blue")

    # Edited while down: starting does not move traffic. The stored routes are served, status says
    # what the file would change, and the operator applies it on purpose.
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, green_url, active="green"))
    with live_gateway(tmp_path, None) as gw:
        assert chat(gw.url).headers["x-slipway-slot"] == "blue"
        config = httpx.get(f"{gw.url}/admin/status").json()["config"]
        assert "active slot blue -> green" in config["not_applied"], config
        assert httpx.get(f"{gw.url}/admin/history").json()["changes"][0]["kind"] == "rollback"
        applied = httpx.post(f"{gw.url}/admin/reload", json={}).json()
        assert applied["applied"] is True, applied
        assert chat(gw.url).headers["x-slipway-slot"] == "green"
        last = httpx.get(f"{gw.url}/admin/history").json()["changes"][0]
        assert last["kind"] == "config" and "applied" in last["reason"], last
        assert httpx.get(f"{gw.url}/admin/status").json()["config"]["not_applied"] is None


def test_a_bad_file_at_restart_does_not_take_the_gateway_down(
    tmp_path: Path, blue_url: str, green_url: str
) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        chat(gw.url)
    (tmp_path / "slipway.yaml").write_text("active_slot: blue\nslots: [oops\n")
    with live_gateway(tmp_path, None) as gw:
        assert chat(gw.url).headers["x-slipway-slot"] == "blue"
        error = httpx.get(f"{gw.url}/admin/status").json()["config"]["last_error"]
        assert error is not None and "slipway.yaml" in error
