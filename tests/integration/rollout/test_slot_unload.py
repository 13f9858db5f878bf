"""Unloading a standby slot's model and loading it back, through the admin API and the CLI.

Real HTTP everywhere: slipway on loopback with its SQLite store, two
simulator servers (which report whether their model is loaded), and for
Ollama's own unload request a PROTOCOL-FAITHFUL FAKE of Ollama
(tests/fakes/ollama_protocol.py), not Ollama, which cannot run here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import httpx
from tests.fakes.ollama_protocol import create_ollama_protocol_fake
from tests.harness import Gateway, live_gateway, routing_yaml, sim_backend, sim_profile
from tests.processes import run_cli
from tests.servers import run_asgi

ACTOR = {"x-slipway-actor": "ann"}


def unload(gw: Gateway, slot: str, reason: str = "v2.2 stable") -> httpx.Response:
    return httpx.post(f"{gw.url}/admin/slots/{slot}/unload", json={"reason": reason}, headers=ACTOR)


def slots(gw: Gateway) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in httpx.get(f"{gw.url}/admin/status").json()["slots"]}


def sim_loaded(url: str) -> tuple[bool, int, int]:
    stats = httpx.get(f"{url}/sim/stats").json()
    return stats["loaded"], stats["loads"], stats["unloads"]


def test_a_standby_slot_is_unloaded_once_and_loaded_by_the_switch_back(tmp_path: Path) -> None:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2")) as green,
        live_gateway(tmp_path, routing_yaml(blue, green, active="green")) as gw,
    ):
        r = unload(gw, "blue")
        assert r.status_code == 200, r.text
        assert r.json()["unloaded"]["by"] == "ann" and "unloaded" in r.json()["unloaded"]["released"]
        assert sim_loaded(blue) == (False, 0, 1)
        assert slots(gw)["blue"]["unloaded"]["reason"] == "v2.2 stable"
        metrics = httpx.get(f"{gw.url}/metrics").text
        assert 'slipway_slot_unloaded{slot="blue"} 1.0' in metrics, metrics
        assert 'slipway_slot_unloaded{slot="green"} 0.0' in metrics
        # Asking again changes nothing and says what was done before.
        again = unload(gw, "blue")
        assert again.status_code == 200 and again.json() == r.json()
        assert sim_loaded(blue) == (False, 0, 1)

        # A switch to it loads it first, and the route history says so.
        switched = run_cli(gw.url, ["switch", "blue", "--reason", "back to v2.1"])
        assert switched.returncode == 0, switched.stdout + switched.stderr
        assert sim_loaded(blue) == (True, 1, 1)
        assert "unloaded" not in slots(gw)["blue"]
        history = httpx.get(f"{gw.url}/admin/history?limit=1").json()["changes"][0]
        assert "blue was unloaded" in history["reason"], history


def test_what_carries_or_needs_traffic_is_never_unloaded(tmp_path: Path) -> None:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2")) as green,
        live_gateway(tmp_path, routing_yaml(blue, green)) as gw,
    ):
        active = unload(gw, "blue")
        assert active.status_code == 409, active.text
        assert "carries traffic" in active.json()["error"]["message"], active.text
        missing = unload(gw, "purple")
        assert missing.status_code == 404 and "blue, green" in active.text + missing.text, missing.text
        # The way back of a bake running after a blue-green switch stays loaded.
        deployed = httpx.post(
            f"{gw.url}/admin/deploy",
            json={"version": "v2.2", "strategy": "bluegreen", "slot": "green", "no_smoke": True},
            headers=ACTOR,
            timeout=60,
        )
        assert deployed.status_code == 200, deployed.text
        needed = run_cli(gw.url, ["unload", "blue"])
        assert needed.returncode != 0, needed.stdout
        assert "the way back for the bake of v2.2" in " ".join(needed.stderr.split()), needed.stderr
        assert sim_loaded(blue) == (True, 0, 0) and sim_loaded(green) == (True, 0, 0)


def test_a_server_slipway_cannot_ask_is_refused_not_reported_done(tmp_path: Path) -> None:
    with (
        sim_backend(sim_profile("cs-v2.1", "v2.1")) as blue,
        sim_backend(sim_profile("cs-v2.2", "v2.2")) as green,
    ):
        config = textwrap.dedent(
            f"""\
            active_slot: green
            slots:
              blue: {{model: customer-support-v2.1, endpoint: "{blue}", kind: openai}}
              green: {{model: customer-support-v2.2, endpoint: "{green}", kind: sim}}
            """
        )
        with live_gateway(tmp_path, config) as gw:
            r = unload(gw, "blue")
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert "slipway did not start" in error["message"] and error["hint"], r.text
            assert "unloaded" not in slots(gw)["blue"]
        assert sim_loaded(blue) == (True, 0, 0)


def test_ollama_is_asked_to_unload_with_keep_alive_zero_and_to_load_again(tmp_path: Path) -> None:
    fake = create_ollama_protocol_fake(
        {"cs-v2.1": b"GGUF\x03\x00\x00\x00v2.1", "cs-v2.2": b"GGUF\x03\x00\x00\x00v2.2"}
    )
    with run_asgi(fake) as url:
        config = textwrap.dedent(
            f"""\
            active_slot: green
            slots:
              blue: {{model: "cs-v2.1", endpoint: "{url}", kind: ollama}}
              green: {{model: "cs-v2.2", endpoint: "{url}", kind: ollama}}
            """
        )
        with live_gateway(tmp_path, config) as gw:
            loaded = httpx.post(f"{gw.url}/admin/slots/blue/load", json={}, headers=ACTOR)
            assert loaded.status_code == 200, loaded.text
            state = fake.state.fake
            assert [r.model for r in state.runners.values()] == ["cs-v2.1:latest"]
            r = unload(gw, "blue")
            assert r.status_code == 200, r.text
            assert "Ollama" in r.json()["unloaded"]["released"]
            assert state.runners == {}
            shown = run_cli(gw.url, ["status"], env={"COLUMNS": "200"})
            assert "standby, unloaded" in shown.stdout, shown.stdout
            back = run_cli(gw.url, ["load", "blue"])
            assert back.returncode == 0 and "loaded blue" in back.stdout, back.stdout + back.stderr
            assert [r.model for r in state.runners.values()] == ["cs-v2.1:latest"]
            assert "unloaded" not in slots(gw)["blue"]
