"""`slipway plan` on adapters converted by llama.cpp's converter: the base each names tells a base upgrade.

Two bases of the same shapes (Llama and Qwen by name), and three versions
that carry no slipway fingerprint, only the base their model card named:
v1.0 and v1.1 for Llama, v2.0 for Qwen.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from tests.gguf_files import hf_model_dir, lora_pair, write_adapter, write_base
from tests.processes import run_cli

from slipway.registry.catalog import Catalog

MODEL = "support"
BASES = {"llama.gguf": "meta-llama/Llama-3.2-1B-Instruct", "qwen.gguf": "Qwen/Qwen2.5-0.5B-Instruct"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("plan-converted")
    hf = work / "hf"
    for file, model_id in BASES.items():
        model_dir = hf_model_dir(hf / model_id.rsplit("/", 1)[-1], name_or_path=model_id)
        tokens = [f"{file[0]}{i}" for i in range(12)]  # another tokenizer, the same shapes
        write_base(work / "models" / MODEL / "base" / file, tokens=tokens, model_dir=model_dir)
    catalog = Catalog(work / "models")
    for version, examples, base in (
        ("v1.0", 100, "llama.gguf"),
        ("v1.1", 110, "llama.gguf"),
        ("v2.0", 120, "qwen.gguf"),
    ):
        card = {"library_name": "peft", "base_model": BASES[base]}
        adapter = write_adapter(
            work / "out" / f"{version}.gguf",
            lora_pair("output.weight", 12, 8),
            model_dir=hf_model_dir(hf / f"lora-{version}", card=card),
        )
        catalog.add_adapter(
            adapter, MODEL, version=version, examples=examples, date=dt.date(2026, 3, 1), base=base
        )
    return work


def plan_json(workdir: Path, *args: str) -> dict[str, Any]:
    result = run_cli(None, ["plan", "--models", f"models/{MODEL}", *args, "--json"], cwd=workdir)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_same_named_base_is_a_retrain_without_caveat(workdir: Path) -> None:
    out = plan_json(workdir, "--from", "v1.0", "--to", "v1.1")
    assert out["detected"]["change"] == "adapter-retrain"
    assert not out["detected"]["caveats"]
    assert "same recorded base (huggingface.co/meta-llama/llama-3.2-1b-instruct)" in out["detected"]["why"]


def test_another_named_base_is_a_base_upgrade(workdir: Path) -> None:
    out = plan_json(workdir, "--from", "v1.1", "--to", "v2.0")
    assert out["detected"]["change"] == "base-upgrade"
    assert "huggingface.co/qwen/qwen2.5-0.5b-instruct (v2.0)" in out["detected"]["why"][0]
    assert out["strategy"] == "shadow"
