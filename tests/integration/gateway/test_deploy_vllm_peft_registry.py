"""A deploy to a `kind: vllm` slot validates a PEFT version from the registry before vLLM is asked to load it.

vLLM here is the PROTOCOL-FAITHFUL FAKE (tests/fakes/vllm_protocol.py), not
vLLM, served by a real uvicorn on loopback; the gateway is a real slipway
process. What is tested is slipway's side: a registry version that fails a
file check never reaches the engine, and the refusal names the check.
"""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fakes.vllm_protocol import create_vllm_protocol_fake
from tests.harness import Gateway, live_gateway
from tests.peft_files import write_hf_base, write_peft_adapter
from tests.processes import run_cli
from tests.servers import run_asgi

from slipway.registry.catalog import Catalog

BASE = "acme/tiny-llama"


@pytest.fixture
def models(tmp_path: Path) -> Path:
    """A registry whose model `cs` has the tiny Hugging Face base and one good PEFT version, v2.1."""
    root = tmp_path / "models"
    write_hf_base(root / "cs" / "base" / "tiny-llama", name_or_path=BASE)
    source = write_peft_adapter(tmp_path / "src" / "good")
    Catalog(root).add_adapter(source, "cs", version="v2.1", date=dt.date(2026, 1, 15), examples=100)
    return root


@pytest.fixture
def vllm(models: Path) -> Iterator[tuple[str, httpx.Client]]:
    app = create_vllm_protocol_fake(BASE)
    with run_asgi(app) as url, httpx.Client(base_url=url) as client:
        yield url, client


@pytest.fixture
def gateway(tmp_path: Path, vllm: tuple[str, httpx.Client]) -> Iterator[Gateway]:
    url, _ = vllm
    config = textwrap.dedent(
        f"""\
        active_slot: blue
        slots:
          blue: {{model: "{BASE}", endpoint: "{url}", kind: vllm}}
          green: {{model: "{BASE}", endpoint: "{url}", kind: vllm}}
        """
    )
    with live_gateway(tmp_path, config) as gw:
        yield gw


def deploy(gateway: Gateway, version: str, adapter: Path) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/admin/deploy",
        json={
            "version": version,
            "slot": "green",
            "model": f"cs-{version}",
            "adapter": str(adapter),
            "no_smoke": True,
            "switch": False,
        },
        timeout=60,
    )


def loaded(client: httpx.Client) -> set[str]:
    return {m["id"] for m in client.get("/v1/models").json()["data"] if m.get("parent")}


def test_a_damaged_registry_version_never_reaches_vllm(
    gateway: Gateway, vllm: tuple[str, httpx.Client], models: Path
) -> None:
    _, client = vllm
    adapters = models / "cs" / "adapters"
    damaged = adapters / "v2.2-2026-02-01-100examples"
    shutil.copytree(
        adapters / "v2.1-2026-01-15-100examples", damaged
    )  # placed by hand, as a bad copy would be
    weights = damaged / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])

    r = deploy(gateway, "v2.2", damaged)
    assert r.status_code == 422, r.text
    body = r.json()["error"]
    assert body["code"] == "adapter_invalid" and body["check"] == "safetensors-intact", body
    assert "cut short" in body["message"]
    assert loaded(client) == set()  # vLLM was never asked

    r = deploy(gateway, "v2.1", adapters / "v2.1-2026-01-15-100examples")
    assert r.status_code == 200, r.text
    assert loaded(client) == {"cs-v2.1"}


def test_a_path_outside_a_registry_is_left_to_vllm(
    gateway: Gateway, vllm: tuple[str, httpx.Client], tmp_path: Path
) -> None:
    _, client = vllm
    elsewhere = write_peft_adapter(tmp_path / "elsewhere" / "adapter")
    r = deploy(gateway, "v9.0", elsewhere)
    assert r.status_code == 200, r.text
    assert loaded(client) == {"cs-v9.0"}


def test_adapters_rollback_between_peft_versions(
    gateway: Gateway, vllm: tuple[str, httpx.Client], models: Path, tmp_path: Path
) -> None:
    _, client = vllm
    source = write_peft_adapter(tmp_path / "src" / "v2.2")
    v22 = Catalog(models).add_adapter(source, "cs", version="v2.2", date=dt.date(2026, 2, 1), examples=120)
    v21 = models / "cs" / "adapters" / "v2.1-2026-01-15-100examples"
    for version, slot, path in (("v2.1", "green", v21), ("v2.2", "blue", v22.path)):
        r = httpx.post(
            f"{gateway.url}/admin/deploy",
            json={
                "version": version,
                "slot": slot,
                "model": f"cs-{version}",
                "adapter": str(path),
                "no_smoke": True,
            },
            timeout=60,
        )
        assert r.status_code == 200, r.text
    assert loaded(client) == {"cs-v2.1", "cs-v2.2"}

    def answer() -> str:
        r = httpx.post(f"{gateway.url}/v1/completions", json={"model": BASE, "prompt": "hi"}, timeout=30)
        assert r.status_code == 200, r.text
        return str(r.json()["choices"][0]["text"])

    assert answer() == "answer from cs-v2.2"
    back = run_cli(gateway.url, ["adapters", "rollback", "--reason", "peft drill"])
    assert back.returncode == 0, back.stderr
    assert "green" in back.stdout and "v2.1" in back.stdout
    assert answer() == "answer from cs-v2.1"
    assert loaded(client) == {"cs-v2.1", "cs-v2.2"}  # a route change: nothing was reloaded
