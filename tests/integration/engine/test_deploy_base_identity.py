"""A deploy of a registry adapter whose base nobody checked is refused before any engine loads it.

Real parts: the tiny model built by the project's script, `slipway serve`'s
runtime with its llama-server engine, the admin API over HTTP. The adapter
is v2.2 with slipway's fingerprint stripped, as one converted by another
tool arrives: same shapes, nothing that says which base it was made for.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
from tests.gguf_files import rewrite
from tests.harness import live_gateway, tiny_engine_yaml

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models
from slipway.registry.fingerprint import FINGERPRINT_KEY

pytestmark = pytest.mark.llama


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    if find_llama_server() is None:
        install_llama_server()
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


def one_adapter_yaml(models: TinyModelPaths) -> str:
    """The engine has v2.1 only, in both slots: a deploy of anything else needs a new engine."""
    return tiny_engine_yaml(models).replace(f", {models.v2_2}]", "]")


async def test_an_unknown_base_is_refused_until_someone_vouches_for_it(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    registry_dir = models.v2_2.parent
    unstamped = rewrite(models.v2_2, tmp_path / "x.gguf", drop={FINGERPRINT_KEY})
    adapter = registry_dir / "v2.3-2026-03-10-2040examples.gguf"
    shutil.copy(unstamped, adapter)
    deploy = {"version": "v2.3", "slot": "green", "adapter": str(adapter), "no_smoke": True, "switch": False}
    try:
        with live_gateway(tmp_path, one_adapter_yaml(models)) as gw:
            async with httpx.AsyncClient(base_url=gw.url, timeout=60) as admin:
                r = await admin.post("/admin/deploy", json=deploy)
                assert r.status_code == 422, r.text
                text = json.dumps(r.json())
                assert "base_unknown" in text and "does not record which base" in text
                assert "--trust-base" in text and adapter.with_suffix(".json").name in text
                engines = (await admin.get("/admin/status")).json()["engines"]
                assert set(engines) == {"support"}  # nothing was started for it

                # vouched for, the way `slipway adapters add --trust-base --by alice` records it
                record = {"by": "alice", "at": "2026-03-10T12:00:00+00:00", "base": models.base.name}
                sidecar = {"base_fingerprint": models.base_fingerprint, "base_trusted": record}
                adapter.with_suffix(".json").write_text(json.dumps(sidecar))
                r = await admin.post("/admin/deploy", json=deploy)
                assert r.status_code == 200, r.text
    finally:
        adapter.unlink(missing_ok=True)
        adapter.with_suffix(".json").unlink(missing_ok=True)
