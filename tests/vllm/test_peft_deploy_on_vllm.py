"""A deploy of a PEFT version from the registry to a `kind: vllm` slot on a real vLLM.

The good version (the tiny classifier's real adapter, its base verified by
the name PEFT recorded and its shapes) is loaded by vLLM under the slot's
model name and answers;
a damaged copy placed in the registry by hand is refused by the registry's
checks before vLLM is asked, so the server never lists it.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from pathlib import Path

import httpx
from tests.harness import live_gateway
from tests.vllm_server import BASE_NAME, VllmServer

from slipway.registry.catalog import Catalog


def listed(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{url}/v1/models", timeout=30).json()["data"]}


def test_a_registry_version_is_checked_before_vllm_loads_it(vllm: VllmServer, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(
        vllm.base, models / "cs" / "base" / "base", ignore=shutil.ignore_patterns("*.safetensors")
    )
    catalog = Catalog(models)
    good = catalog.add_adapter(
        vllm.adapter("v2.1"), "cs", version="v2.1", date=dt.date(2026, 1, 15), examples=400
    )
    damaged = models / "cs" / "adapters" / "v2.9-2026-03-01-400examples"
    shutil.copytree(good.path, damaged)
    weights = damaged / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1000])

    config = textwrap.dedent(
        f"""\
        active_slot: blue
        slots:
          blue: {{model: "{BASE_NAME}", endpoint: "{vllm.url}", kind: vllm}}
          green: {{model: "{BASE_NAME}", endpoint: "{vllm.url}", kind: vllm}}
        """
    )
    try:
        with live_gateway(tmp_path, config) as gw:

            def deploy(version: str, adapter: Path) -> httpx.Response:
                body = {
                    "version": version,
                    "slot": "green",
                    "model": f"peft-cs-{version}",
                    "adapter": str(adapter),
                    "no_smoke": True,
                    "switch": False,
                }
                return httpx.post(f"{gw.url}/admin/deploy", json=body, timeout=300)

            r = deploy("v2.9", damaged)
            assert r.status_code == 422, r.text
            error = r.json()["error"]
            assert error["check"] == "safetensors-intact" and "cut short" in error["message"]
            assert "peft-cs-v2.9" not in listed(vllm.url)

            r = deploy("v2.1", good.path)
            assert r.status_code == 200, r.text
            assert "peft-cs-v2.1" in listed(vllm.url)
            answer = httpx.post(
                f"{vllm.url}/v1/completions",
                json={"model": "peft-cs-v2.1", "prompt": "Hello", "max_tokens": 2, "temperature": 0},
                timeout=60,
            )
            assert answer.status_code == 200, answer.text

    finally:
        # The session's server is shared: leave it as it was.
        httpx.post(f"{vllm.url}/v1/unload_lora_adapter", json={"lora_name": "peft-cs-v2.1"}, timeout=60)
