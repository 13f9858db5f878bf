"""A blue-green plan on one Ollama server with two adapters of one base — against a
PROTOCOL-FAITHFUL FAKE of Ollama (tests/fakes/ollama_protocol.py), not Ollama.

Ollama keeps one runner per base file and reloads it whenever the adapters
differ, so "the old slot stays warm for rollback" is false there. The deploy
must say so before it switches, in its progress and in the deployment record.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import httpx
from tests.fakes.ollama_protocol import create_ollama_protocol_fake
from tests.harness import live_gateway
from tests.servers import run_asgi

from slipway.backends.factory import SlotBackends
from slipway.core.types import BackendKind, Slot

BASE = b"GGUF\x03\x00\x00\x00classifier base weights"


async def test_the_deploy_warns_that_rollback_will_reload_the_runner(tmp_path: Path) -> None:
    with run_asgi(create_ollama_protocol_fake({"classifier-base": BASE})) as url:
        backends = SlotBackends()
        try:
            base = Slot(name="x", endpoint=url, model="classifier-base", kind=BackendKind.OLLAMA)
            for version in ("v2.1", "v2.2"):
                adapter = tmp_path / f"{version}.gguf"
                adapter.write_bytes(b"GGUF\x03\x00\x00\x00lora " + version.encode())
                await backends.ollama.create_with_adapter(
                    base, f"classifier-{version}", "classifier-base", adapter
                )
        finally:
            await backends.close()
        config = textwrap.dedent(
            f"""\
            active_slot: blue
            slots:
              blue: {{model: "classifier-v2.1", endpoint: "{url}", kind: ollama}}
              green: {{model: "classifier-v2.1", endpoint: "{url}", kind: ollama}}
            """
        )
        with live_gateway(tmp_path, config) as gw:
            r = httpx.post(
                f"{gw.url}/admin/deploy",
                json={"version": "v2.2", "slot": "green", "model": "classifier-v2.2", "no_smoke": True},
            )
    assert r.status_code == 200, r.text
    warnings = r.json()["deployment"]["detail"]["warnings"]
    assert len(warnings) == 1 and "reloads the Ollama runner" in warnings[0]
