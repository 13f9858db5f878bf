"""The registry's PEFT checks against what a real vLLM does with the same directories.

The tiny classifier's adapters are real PEFT output (save_pretrained), so
they must pass every file check, and `--load --endpoint` must get an answer
from the real server. The server runs with --max-lora-rank 8: an adapter of
rank 16 is refused by `max-rank` before any load, and when the check is told
a wrong limit, vLLM itself refuses it — the check mirrors the engine.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from tests.peft_files import safetensors_bytes
from tests.vllm_server import VllmServer
from typer.testing import CliRunner

from slipway.cli.main import app
from slipway.registry.safetensors_header import read_safetensors_header

WEIGHTS = "adapter_model.safetensors"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner(env={"COLUMNS": "220"}).invoke(app, ["adapters", *args])
    return result.exit_code, result.stdout + result.stderr


def checks(out: str) -> dict[str, dict[str, Any]]:
    return {c["check"]: c for c in json.loads(out)["checks"]}


def rank_16_copy(adapter: Path, target: Path) -> Path:
    """The adapter with every pair padded from rank 8 to 16 with zeros (same answers, larger rank)."""
    shutil.copytree(adapter, target)
    header = read_safetensors_header(adapter / WEIGHTS)
    raw = (adapter / WEIGHTS).read_bytes()
    start = 8 + header.header_bytes
    tensors: dict[str, np.ndarray[Any, Any]] = {}
    for name, info in header.tensors.items():
        array = np.frombuffer(raw[start + info.begin : start + info.end], dtype="<f4").reshape(info.shape)
        if ".lora_A." in name:
            array = np.concatenate([array, np.zeros_like(array)], axis=0)
        else:
            array = np.concatenate([array, np.zeros_like(array)], axis=1)
        tensors[name] = array.astype(np.float32)
    (target / WEIGHTS).write_bytes(safetensors_bytes(tensors))
    config = json.loads((target / "adapter_config.json").read_text())
    config.update({"r": 16, "lora_alpha": 32})
    (target / "adapter_config.json").write_text(json.dumps(config))
    return target


def test_real_peft_output_passes_and_loads_on_vllm(vllm: VllmServer) -> None:
    adapter = vllm.adapter("v2.1")
    code, out = run(
        "validate",
        str(adapter),
        "--base",
        str(vllm.base),
        "--max-rank",
        "8",
        "--load",
        "--endpoint",
        vllm.url,
        "--json",
    )
    assert code == 0, out
    got = checks(out)
    for name in ("peft-config", "safetensors-intact", "dtype", "target-modules", "lora-shapes", "max-rank"):
        assert got[name]["status"] == "pass", got[name]
    assert got["lora-shapes"]["detail"] == "14 LoRA module(s) fit the base, rank 8"
    assert got["loadable"]["status"] == "pass", got["loadable"]
    assert got["loadable"]["detail"].startswith("answered 'Hello' with")


def test_the_rank_limit_is_vllms(vllm: VllmServer, tmp_path: Path) -> None:
    wide = rank_16_copy(vllm.adapter("v2.1"), tmp_path / "wide")
    code, out = run("validate", str(wide), "--base", str(vllm.base), "--max-rank", "8", "--json")
    assert code == 1
    got = checks(out)
    assert got["max-rank"]["status"] == "fail" and got["lora-shapes"]["status"] == "pass"
    assert (
        got["max-rank"]["error"]["found"] == "rank 16" and got["max-rank"]["error"]["expected"] == "at most 8"
    )

    # Told a wrong limit, the file checks pass, and the engine refuses the load itself.
    code, out = run(
        "validate",
        str(wide),
        "--base",
        str(vllm.base),
        "--max-rank",
        "16",
        "--load",
        "--endpoint",
        vllm.url,
        "--json",
    )
    assert code == 1, out
    loadable = checks(out)["loadable"]
    assert loadable["status"] == "fail", loadable
    assert "max_lora_rank" in loadable["detail"], loadable["detail"]  # vLLM's own words
