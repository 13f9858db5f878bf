"""`slipway plan` as a user runs it, on a registry of the tiny model's real GGUF adapters.

The registry holds two bases and four versions: v2.1 and v2.2 (the same
base, 1,247 then 1,891 examples: a routine retrain), v2.2.1 (v2.2's very
file, re-registered: only configuration can differ) and v3.0 (trained for
the other base: a base upgrade). The command reads their metadata and says
what changed; the advice follows from that.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.processes import run_cli

from slipway.advice import QUOTES
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models
from slipway.registry.catalog import Catalog

MODEL = "customer-support"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    return build_tiny_models(tmp_path_factory.mktemp("tiny") / "models", seed=0)


@pytest.fixture(scope="module")
def workdir(tiny: TinyModelPaths, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("plan")
    base_dir = work / "models" / MODEL / "base"
    base_dir.mkdir(parents=True)
    for base in (tiny.base, tiny.other_base):
        shutil.copy2(base, base_dir / base.name)
    catalog = Catalog(work / "models")
    catalog.add_adapter(tiny.v2_1, MODEL, base=tiny.base.name)
    catalog.add_adapter(tiny.v2_2, MODEL, base=tiny.base.name)
    catalog.add_adapter(tiny.v2_2, MODEL, version="v2.2.1", base=tiny.base.name)
    catalog.add_adapter(tiny.wrong_base_adapter, MODEL, version="v3.0", base=tiny.other_base.name)
    return work


def plan(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(None, ["plan", "--models", f"models/{MODEL}", *args], cwd=workdir)


def plan_json(workdir: Path, *args: str) -> dict[str, Any]:
    result = plan(workdir, *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_a_retrain_on_more_of_the_same_data_is_a_canary(workdir: Path) -> None:
    out = plan_json(workdir, "--from", "v2.1", "--to", "v2.2")
    assert out["detected"]["change"] == "adapter-retrain"
    assert "training examples 1,247 → 1,891 (+52 %), training data hash changed" in out["detected"]["why"][0]
    assert out["change_source"] == "detected"
    assert out["strategy"] == "canary"
    assert QUOTES["overkill"].text in [r["quote"] for r in out["reasons"]]
    assert "When to Use Shadow Mode" in [r["section"] for r in out["reasons"]]
    assert out["commands"][0]["command"] == (
        "slipway deploy v2.2 --strategy canary --smoke smoke.jsonl --steps 5%:2h,25%:4h,100%"
    )


def test_an_adapter_for_another_base_is_a_base_upgrade_and_a_shadow(
    workdir: Path, tiny: TinyModelPaths
) -> None:
    out = plan_json(workdir)  # newest version against the one before it
    assert (out["from"], out["to"]) == ("v2.2.1", "v3.0")
    assert out["detected"]["change"] == "base-upgrade"
    why = out["detected"]["why"][0]
    assert tiny.base_fingerprint[:12] in why and tiny.other_base_fingerprint[:12] in why
    assert out["strategy"] == "shadow"
    assert {QUOTES["base"].text, QUOTES["base_fails"].text} <= {r["quote"] for r in out["reasons"]}
    commands = [c["command"] for c in out["commands"]]
    assert commands[0] == "slipway deploy v3.0 --strategy shadow --sample 100% --until 2000-pairs"
    assert commands[-1] == "slipway shadow promote --via canary"


def test_the_first_version_is_a_first_finetune(workdir: Path) -> None:
    out = plan_json(workdir, "--to", "v2.1")
    assert out["from"] is None
    assert out["detected"]["change"] == "first-finetune"
    assert out["strategy"] == "shadow"


def test_the_same_file_again_is_config_only(workdir: Path) -> None:
    out = plan_json(workdir, "--from", "v2.2", "--to", "v2.2.1", "--stakes", "low")
    assert out["detected"]["change"] == "config-only"
    assert "same file" in out["detected"]["why"][0]
    assert out["strategy"] == "bluegreen"
    assert out["commands"][0]["command"] == "slipway deploy v2.2.1 --strategy bluegreen --smoke smoke.jsonl"


def test_flags_override_what_is_detected(workdir: Path) -> None:
    out = plan_json(workdir, "--from", "v2.1", "--to", "v2.2", "--change", "new-data", "--stakes", "legal")
    assert out["detected"]["change"] == "adapter-retrain"
    assert (out["change"], out["change_source"]) == ("new-data", "--change")
    assert (out["stakes"], out["domain"], out["stakes_assumed"]) == ("high", "legal", False)
    assert out["strategy"] == "shadow"
    assert "--until 5000-pairs" in out["commands"][0]["command"]


def test_the_table_for_people(workdir: Path) -> None:
    result = plan(workdir, "--from", "v2.1", "--to", "v2.2", "--traffic", "200/h")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "customer-support v2.1 → v2.2" in out
    assert "detected: adapter-retrain" in out
    assert "stakes: medium (assumed)" in out
    assert "recommended: canary" in out
    assert 'article § When to Use Shadow Mode: "Shadow mode is overkill' in out
    assert "seed" not in out and "l.85" not in out
    # 4,800 requests/day: the article's 2 h at 5 % sends the candidate ~20 requests, too few for a check
    assert "$ slipway deploy v2.2 --strategy canary --smoke smoke.jsonl --steps 5%:15h,25%:4h,100%" in out
    assert "to full traffic: 19.0 h" in out
    assert "alternatives" in out and "shadow: overkill" in out


def test_mistakes_are_explained(workdir: Path) -> None:
    root = run_cli(None, ["plan", "--models", "models"], cwd=workdir)
    assert root.returncode == 2
    assert "not a model directory" in root.stderr and f"models/{MODEL}" in root.stderr

    unknown = plan(workdir, "--to", "v9.9")
    assert unknown.returncode == 2
    assert "no adapter version 'v9.9'" in unknown.stderr and "v2.1, v2.2, v2.2.1, v3.0" in unknown.stderr

    nothing = run_cli(None, ["plan"], cwd=workdir)
    assert nothing.returncode == 2 and "say what changed" in nothing.stderr

    same = plan(workdir, "--from", "v2.2", "--to", "v2.2")
    assert same.returncode == 2 and "same version" in same.stderr
