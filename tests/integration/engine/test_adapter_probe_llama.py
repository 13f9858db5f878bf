"""The adapter probe on slipway's own llama.cpp engine: the base and both adapters, chosen per request.

Real parts only: the tiny GGUF base with adapters v2.1 and v2.2 on one
llama-server that slipway runs. A llamacpp slot selects its adapter per
request (the `lora` list), so the base model and every loaded adapter share
the engine's batches, and a deploy's smoke test probes them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.harness import live_gateway, tiny_engine_yaml

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.scenario import smoke_cases
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    if find_llama_server() is None:
        install_llama_server()
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


def test_a_deploy_probes_the_base_and_every_loaded_adapter(tmp_path: Path, models: TinyModelPaths) -> None:
    smoke = "".join(json.dumps(c) + "\n" for c in smoke_cases(0))
    with live_gateway(tmp_path, tiny_engine_yaml(models, green="v2.1")) as gw:
        r = httpx.post(
            f"{gw.url}/admin/deploy",
            json={
                "version": "v2.2",
                "slot": "green",
                "model": "customer-support-v2.2",
                "adapter": "v2.2",
                "smoke_jsonl": smoke,
            },
            timeout=300,
        )
    assert r.status_code == 200, r.text
    probe: dict[str, Any] = r.json()["deployment"]["detail"]["smoke"]["adapter_probe"]
    names = {n["name"]: n for n in probe["names"]}
    assert set(names) == {"base model", models.v2_1.name, models.v2_2.name}
    assert names[models.v2_2.name]["candidate"] and names["base model"]["base"]
    assert probe["outcome"] == "passed", probe["text"]
    assert probe["cross_talk"] == 0
    assert not probe["identical"], "v2.2 changes the base's answers"
    assert all(n["mixed"] == probe["rounds"] * probe["prompts"] for n in probe["names"])
