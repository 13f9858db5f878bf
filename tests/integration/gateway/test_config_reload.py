"""Editing the routing YAML while slipway runs: applied on save, rejected with line and field when wrong.

The watcher is the real one (watchfiles on the file's directory); the test
edits the file the way an operator's editor does and polls `GET /admin/status`
the way a dashboard would.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import Gateway, live_gateway, routing_yaml

WAIT_S = 10.0


@pytest.fixture
def gateway(tmp_path: Path, blue_url: str, green_url: str) -> Iterator[Gateway]:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        yield gw


def status(gw: Gateway) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{gw.url}/admin/status").json()
    return data


def wait_for(gw: Gateway, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        st = status(gw)
        if check(st):
            return st
        if time.monotonic() > deadline:
            raise AssertionError(f"within {WAIT_S:g} s: {what}; last status: {st}")
        time.sleep(0.05)


def slot_of_next_request(gw: Gateway) -> str:
    r = httpx.post(
        f"{gw.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}]},
    )
    assert r.status_code == 200, r.text
    return r.headers["x-slipway-slot"]


def test_a_saved_edit_is_applied_and_an_invalid_one_is_rejected_with_line_and_field(
    gateway: Gateway, blue_url: str, green_url: str
) -> None:
    assert slot_of_next_request(gateway) == "blue"

    gateway.config_path.write_text(routing_yaml(blue_url, green_url, active="green"))
    wait_for(gateway, lambda s: s["route"]["active"] == "green", "the edit to active_slot is applied")
    assert slot_of_next_request(gateway) == "green"
    changes = httpx.get(f"{gateway.url}/admin/history").json()["changes"]
    assert changes[0]["actor"] == "config-file (watch)" and changes[0]["to_active"] == "green"

    # A typo on line 4: the running configuration stays, and status says exactly what is wrong.
    broken = routing_yaml(blue_url, green_url, active="blue").replace("kind: sim}", "kind: simm}", 1)
    gateway.config_path.write_text(broken)
    st = wait_for(gateway, lambda s: s["config"]["last_error"] is not None, "the invalid file is reported")
    assert "slipway.yaml:4" in st["config"]["last_error"] and "slots.blue.kind" in st["config"]["last_error"]
    assert st["route"]["active"] == "green"
    assert slot_of_next_request(gateway) == "green"

    reload = httpx.post(f"{gateway.url}/admin/reload", json={})
    assert reload.status_code == 400
    assert "slots.blue.kind" in reload.json()["error"]["message"], reload.text

    gateway.config_path.write_text(routing_yaml(blue_url, green_url, active="blue"))
    st = wait_for(
        gateway,
        lambda s: s["route"]["active"] == "blue" and s["config"]["last_error"] is None,
        "the fixed file is applied and the error cleared",
    )
    assert slot_of_next_request(gateway) == "blue"


def test_reload_by_command_when_watching_is_off(tmp_path: Path, blue_url: str, green_url: str) -> None:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url), watch=False) as gw:
        gw.config_path.write_text(routing_yaml(blue_url, green_url, active="green"))
        time.sleep(0.5)
        assert status(gw)["route"]["active"] == "blue", "no watcher: nothing changes until reload"
        r = httpx.post(f"{gw.url}/admin/reload", json={}, headers={"x-slipway-actor": "ops"})
        assert r.status_code == 200 and r.json()["applied"] is True
        assert slot_of_next_request(gw) == "green"
        again = httpx.post(f"{gw.url}/admin/reload", json={}).json()
        assert again["applied"] is False and "unchanged" in again["reason"]


def publish_like_kubernetes(folder: Path, name: str, text: str) -> None:
    """What the kubelet does to a mounted ConfigMap: a new timestamped directory holds the file,
    `..data` is renamed over to point at it, the old directory is removed; the file itself is a
    link to `..data/<name>` that never changes."""
    fresh = folder / f"..{time.time_ns()}"
    fresh.mkdir()
    (fresh / name).write_text(text)
    (folder / "..data_tmp").symlink_to(fresh.name)
    os.rename(folder / "..data_tmp", folder / "..data")
    for old in folder.glob("..[0-9]*"):
        if old != fresh:
            shutil.rmtree(old)
    if not (folder / name).is_symlink():
        (folder / name).symlink_to(f"..data/{name}")


def test_every_update_of_a_configmap_mount_is_applied(tmp_path: Path, blue_url: str, green_url: str) -> None:
    """The first update of a mounted ConfigMap replaces the directory the file was in: a watch
    on that directory once saw that update and none after it."""
    publish_like_kubernetes(tmp_path, "slipway.yaml", routing_yaml(blue_url, green_url, active="blue"))
    with live_gateway(tmp_path, None) as gw:
        for active in ("green", "blue", "green"):
            publish_like_kubernetes(
                tmp_path, "slipway.yaml", routing_yaml(blue_url, green_url, active=active)
            )

            def applied(st: dict[str, Any], active: str = active) -> bool:
                return bool(st["route"]["active"] == active)

            wait_for(gw, applied, f"the update to {active} is applied")
            assert slot_of_next_request(gw) == active
        actors = [c["actor"] for c in httpx.get(f"{gw.url}/admin/history").json()["changes"]]
        assert actors[:3] == ["config-file (watch)"] * 3, actors
