"""Traffic moves only to a slot that passes its readiness check, by any path; --force overrides, on record.

`slipway serve` runs as a user runs it, blue on a sim backend and green on a
port where nothing listens (a backend that is down). Waits are failure guards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import routing_yaml
from tests.processes import ServeProcess, admin_status, free_port, run_cli, slipway_serve, wait_for_status

WAIT_S = 60.0


@pytest.fixture
def down_url() -> str:
    """A loopback port nothing listens on: a backend that is down."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def served(tmp_path: Path, blue_url: str, down_url: str) -> Iterator[ServeProcess]:
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, down_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
        yield proc


def history(url: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = httpx.get(f"{url}/admin/history", timeout=WAIT_S).json()["changes"]
    return changes


def flat(text: str) -> str:
    return " ".join(text.split())


def test_a_config_edit_to_a_slot_that_is_down_is_refused_until_reload_force(
    served: ServeProcess, tmp_path: Path, blue_url: str, down_url: str
) -> None:
    before = history(served.url)
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, down_url, active="green"))
    st = wait_for_status(
        served.url, lambda s: "not ready" in (s["config"]["last_error"] or ""), "the edit is refused"
    )
    assert st["route"]["active"] == "blue"
    assert "green" in st["config"]["last_error"] and down_url in st["config"]["last_error"]
    assert "slipway reload --force" in st["config"]["last_error"]
    assert history(served.url) == before, "a refused edit moves nothing and records no change"
    ok = httpx.post(
        f"{served.url}/v1/chat/completions",
        json={"model": "m", "messages": [{"role": "user", "content": "refund"}]},
        timeout=WAIT_S,
    )
    assert ok.status_code == 200 and ok.headers["x-slipway-slot"] == "blue"

    refused = httpx.post(f"{served.url}/admin/reload", json={}, timeout=WAIT_S)
    assert refused.status_code == 409, refused.text
    assert "not ready" in refused.json()["error"]["message"]

    out = run_cli(served.url, ["status"])
    assert "config rejected (running config kept)" in flat(out.stdout) and "not ready" in out.stdout

    forced = run_cli(served.url, ["reload", "--force"])
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "config applied" in forced.stdout
    assert admin_status(served.url)["route"]["active"] == "green"
    last = history(served.url)[0]
    assert last["to_active"] == "green" and last["from_active"] == "blue"
    assert "--force past the readiness check" in last["reason"] and "not ready" in last["reason"]


def test_switch_and_rollback_to_a_slot_that_is_down_are_refused_and_force_is_recorded(
    served: ServeProcess, down_url: str
) -> None:
    refused = run_cli(served.url, ["switch", "green"])
    assert refused.returncode == 1
    said = flat(refused.stderr)
    assert "not ready" in said and down_url in said and "slipway switch green --force" in said, said
    assert admin_status(served.url)["route"]["active"] == "blue"

    forced = run_cli(served.url, ["switch", "green", "--force", "-r", "drill"])
    assert forced.returncode == 0, forced.stderr
    assert "switched: blue -> green" in flat(forced.stdout)
    assert "forced past the readiness check" in flat(forced.stdout)

    back = run_cli(served.url, ["rollback"])
    assert back.returncode == 0, back.stderr
    assert "rolled back: green -> blue" in flat(back.stdout), "a ready target needs no force"

    # 3 a.m.: production is blue, and the standby it would roll back to is down.
    refused = run_cli(served.url, ["rollback"])
    assert refused.returncode == 1
    said = flat(refused.stderr)
    assert "traffic was not moved" in said and "not ready" in said
    assert "slipway rollback --force" in said and "lesser harm" in said, said
    assert admin_status(served.url)["route"]["active"] == "blue"

    forced = run_cli(served.url, ["rollback", "--force", "-r", "blue is worse"])
    assert forced.returncode == 0, forced.stderr
    assert "rolled back: blue -> green" in flat(forced.stdout)
    changes = history(served.url)
    assert changes[0]["kind"] == "rollback" and changes[0]["to_active"] == "green"
    assert changes[0]["reason"].startswith("blue is worse; forced past the readiness check")
    assert changes[2]["kind"] == "switch" and "forced past the readiness check" in changes[2]["reason"]
    assert "forced" not in changes[1]["reason"]

    api = httpx.post(f"{served.url}/admin/switch", json={"to": "blue"}, timeout=WAIT_S)
    assert api.status_code == 200 and api.json()["from"] == "green" and api.json()["to"] == "blue"
    api = httpx.post(f"{served.url}/admin/rollback", json={}, timeout=WAIT_S)
    assert api.status_code == 409 and "not ready" in api.json()["error"]["message"]
    api = httpx.post(f"{served.url}/admin/rollback", json={"force": True}, timeout=WAIT_S)
    assert api.status_code == 200 and (api.json()["from"], api.json()["to"]) == ("blue", "green")


def test_a_deploy_to_an_endpoint_that_is_down_is_refused_as_before(
    served: ServeProcess, down_url: str
) -> None:
    r = httpx.post(
        f"{served.url}/admin/deploy",
        json={"version": "v9", "slot": "green", "endpoint": down_url, "model": "m", "no_smoke": True},
        timeout=WAIT_S,
    )
    assert r.status_code == 409 and "not ready" in r.json()["error"]["message"], r.text


def test_a_restart_with_an_edit_to_a_slot_that_is_down_serves_the_stored_routes(
    tmp_path: Path, blue_url: str, down_url: str
) -> None:
    config = tmp_path / "slipway.yaml"
    config.write_text(routing_yaml(blue_url, down_url))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]):
        pass
    config.write_text(routing_yaml(blue_url, down_url, active="green"))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as again:
        st = admin_status(again.url)
        assert st["route"]["active"] == "blue"
        assert "active slot blue -> green" in st["config"]["not_applied"], st["config"]
        # Asked to apply it, the gateway still refuses to send traffic to a slot that is down.
        assert run_cli(again.url, ["reload"]).returncode != 0
        st = admin_status(again.url)
        assert st["route"]["active"] == "blue"
        assert "not ready" in (st["config"]["last_error"] or "")


def test_a_first_start_with_nothing_stored_serves_the_file_and_says_the_slot_was_not_ready(
    tmp_path: Path, down_url: str, blue_url: str
) -> None:
    """Nothing serves yet, so there is nothing to keep: refusing would only mean no gateway at all."""
    (tmp_path / "slipway.yaml").write_text(routing_yaml(blue_url, down_url, active="green"))
    with slipway_serve(tmp_path, ["--config", "slipway.yaml"]) as proc:
        assert admin_status(proc.url)["route"]["active"] == "green"
        first = history(proc.url)[-1]
        assert "not ready when applied" in first["reason"] and down_url in first["reason"]
