"""Blue-green deploy of a LoRA adapter on vLLM — against a PROTOCOL-FAITHFUL FAKE of vLLM, not vLLM.

vLLM cannot run here; tests/fakes/vllm_protocol.py reproduces its documented
`/v1/models`, `/v1/load_lora_adapter` and `/v1/unload_lora_adapter` shapes.
What is tested is slipway's side: the deploy loads the adapter under the
slot's own model name before checking it, switches only after the smoke
test, and unloads only what it loaded when the candidate fails.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fakes.vllm_protocol import create_vllm_protocol_fake
from tests.harness import Gateway, live_gateway
from tests.servers import run_asgi

BASE = "meta-llama/Llama-3.2-1B-Instruct"


def peft_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir()
    (path / "adapter_config.json").write_text('{"r": 8}')
    return path


@pytest.fixture
def vllm(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    v21, v22 = peft_dir(tmp_path, "v2.1"), peft_dir(tmp_path, "v2.2")
    with run_asgi(create_vllm_protocol_fake(BASE, lora_modules={"cs-v2.1": str(v21)})) as url:
        yield url, v21, v22


@pytest.fixture
def gateway(tmp_path: Path, vllm: tuple[str, Path, Path]) -> Iterator[Gateway]:
    url, v21, _ = vllm
    config = textwrap.dedent(
        f"""\
        active_slot: blue
        slots:
          blue: {{model: cs-v2.1, endpoint: "{url}", kind: vllm, adapter: "{v21}"}}
          green: {{model: cs-v2.1, endpoint: "{url}", kind: vllm, adapter: "{v21}"}}
        """
    )
    with live_gateway(tmp_path, config) as gw:
        yield gw


def smoke(pattern: str) -> str:
    return json.dumps({"id": "who", "prompt": "who are you", "expect": {"regex": pattern}}) + "\n"


def listed(url: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]}


def test_the_adapter_is_loaded_under_its_own_name_and_checked_before_traffic_moves(
    gateway: Gateway, vllm: tuple[str, Path, Path]
) -> None:
    url, _, v22 = vllm
    r = httpx.post(
        f"{gateway.url}/admin/deploy",
        json={
            "version": "v2.2",
            "slot": "green",
            "model": "cs-v2.2",
            "adapter": str(v22),
            "smoke_jsonl": smoke(r"^answer from cs-v2\.2$"),
        },
    )
    assert r.status_code == 200, r.text
    assert {"cs-v2.1", "cs-v2.2"} <= listed(url)
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert answer.headers["x-slipway-slot"] == "green"
    assert answer.json()["choices"][0]["message"]["content"] == "answer from cs-v2.2"


def test_a_failed_candidate_is_unloaded_and_production_is_untouched(
    gateway: Gateway, vllm: tuple[str, Path, Path]
) -> None:
    url, _, v22 = vllm
    r = httpx.post(
        f"{gateway.url}/admin/deploy",
        json={
            "version": "v2.2",
            "slot": "green",
            "model": "cs-v2.2",
            "adapter": str(v22),
            "smoke_jsonl": smoke("^never$"),
        },
    )
    assert r.status_code == 422, r.text
    assert listed(url) == {BASE, "cs-v2.1"}
    status = httpx.get(f"{gateway.url}/admin/status").json()
    assert status["route"]["active"] == "blue"
