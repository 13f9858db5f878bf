"""`slipway adapters` on the tiny model's files: list, add, show, validate (exit codes, tables, JSON)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slipway.cli.main import app
from slipway.demo.tiny_model import TinyModelPaths

MODEL = "customer-support"


@pytest.fixture
def runner(registry: Path) -> CliRunner:
    return CliRunner(env={"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "200"})


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["adapters", *args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_exit_codes_and_check_list(runner: CliRunner, tiny: TinyModelPaths) -> None:
    code, out, _ = run(runner, "validate", str(tiny.v2_1), "--base", str(tiny.base))
    assert code == 0, out
    for check in ("header", "intact", "general-type", "adapter-type", "architecture", "tensor-shapes"):
        assert check in out
    assert "base-identity" in out and "valid in" in out
    assert "skipped: not asked (use --load)" in out

    code, out, _ = run(runner, "validate", str(tiny.wrong_base_adapter), "--base", str(tiny.base))
    assert code == 1
    assert "FAIL" in out and "invalid (1 check(s) failed)" in out
    assert f"found:    {tiny.other_base_fingerprint}" in out
    assert f"expected: {tiny.base_fingerprint}" in out
    assert "what to do:" in out


def test_validate_json(runner: CliRunner, tiny: TinyModelPaths, variants: dict[str, Path]) -> None:
    code, out, _ = run(runner, "validate", str(variants["wrong-arch"]), "--base", str(tiny.base), "--json")
    assert code == 1
    body = json.loads(out)
    assert body["ok"] is False and body["adapter"] == str(variants["wrong-arch"])
    by_name = {c["check"]: c for c in body["checks"]}
    assert by_name["architecture"]["status"] == "fail"
    assert by_name["architecture"]["error"] == {
        "code": "adapter_mismatch",
        "message": by_name["architecture"]["error"]["message"],
        "hint": by_name["architecture"]["error"]["hint"],
        "path": str(variants["wrong-arch"]),
        "check": "architecture",
        "found": "'qwen2'",
        "expected": "'llama'",
    }
    assert by_name["loadable"]["status"] == "skip"
    assert all(c["seconds"] >= 0 for c in body["checks"])


def test_add_list_show(runner: CliRunner, tiny: TinyModelPaths, registry: Path) -> None:
    code, out, err = run(runner, "add", str(tiny.v2_1), "--model", MODEL, "--notes", "balanced")
    assert code == 0, out + err
    assert "added v2.1 to customer-support" in out
    code, out, err = run(runner, "add", str(tiny.v2_2), "--model", MODEL)
    assert code == 0, out + err

    code, out, _ = run(runner, "list")
    assert code == 0
    assert "v2.1" in out and "2026-01-15" in out and "1247" in out and "22.3 KiB" in out
    assert "✓ tiny-support-base.gguf" in out
    assert "disk use:" in out

    code, out, _ = run(runner, "list", "--json")
    body = json.loads(out)
    support = next(m for m in body["models"] if m["name"] == MODEL)
    assert [(a["version"], a["examples"], a["base_status"]) for a in support["adapters"]] == [
        ("v2.1", 1247, "verified"),
        ("v2.2", 1891, "verified"),
    ]
    assert support["bases"][0]["fingerprint"] == tiny.base_fingerprint
    assert body["disk"] == sum(m["disk"] for m in body["models"]) > 0

    code, out, _ = run(runner, "show", "v2.1", "--model", MODEL)
    assert code == 0
    assert "(matches when added)" in out and "balanced" in out and "rank 4, alpha 4.0" in out
    code, out, _ = run(runner, "show", "v2.2", "--model", MODEL, "--json")
    shown = json.loads(out)
    assert shown["version"] == "v2.2" and shown["sha256"] == shown["sha256_recorded"]
    assert shown["metadata"]["training"]["examples"] == 1891


def test_add_refuses_a_wrong_base_and_an_existing_version(
    runner: CliRunner, tiny: TinyModelPaths, registry: Path, tmp_path: Path
) -> None:
    code, out, err = run(runner, "add", str(tiny.wrong_base_adapter), "--model", MODEL)
    assert code == 1
    assert "base-identity" in out and "refused" in err
    assert not (registry / MODEL / "adapters" / tiny.wrong_base_adapter.name).exists()

    assert run(runner, "add", str(tiny.v2_1), "--model", MODEL)[0] == 0
    copy = tmp_path / tiny.v2_1.name
    shutil.copy(tiny.v2_1, copy)
    code, _, err = run(runner, "add", str(copy), "--model", MODEL)
    assert code == 2
    assert "already has version v2.1" in err and "never replaced" in err and "--version v2.2" in err


def test_models_dir_option_and_unknown_names(runner: CliRunner, tiny: TinyModelPaths) -> None:
    code, out, _ = run(runner, "list", "--models-dir", str(tiny.root), "--json")
    assert code == 0
    assert [m["name"] for m in json.loads(out)["models"]] == ["customer-support", "other-support"]
    code, _, err = run(runner, "show", "v7", "--model", MODEL)
    assert code == 2 and "no adapter version 'v7'" in err
    code, _, err = run(runner, "list", "--model", "nope")
    assert code == 2 and "no model 'nope'" in err


def test_add_needs_a_real_date(runner: CliRunner, tiny: TinyModelPaths) -> None:
    code, _, err = run(runner, "add", str(tiny.v2_1), "--model", MODEL, "--date", "yesterday")
    assert code == 2 and "YYYY-MM-DD" in err


def test_show_notices_a_file_changed_after_it_was_added(
    runner: CliRunner, tiny: TinyModelPaths, registry: Path
) -> None:
    assert run(runner, "add", str(tiny.v2_1), "--model", MODEL)[0] == 0
    stored = registry / MODEL / "adapters" / tiny.v2_1.name
    data = bytearray(stored.read_bytes())
    data[-20] ^= 0xFF  # one weight byte flipped on disk
    stored.write_bytes(bytes(data))
    code, out, _ = run(runner, "show", "v2.1", "--model", MODEL)
    assert code == 0
    assert "CHANGED since added" in out


def test_list_shows_a_damaged_version_without_failing(
    runner: CliRunner, tiny: TinyModelPaths, registry: Path, variants: dict[str, Path]
) -> None:
    assert run(runner, "add", str(tiny.v2_1), "--model", MODEL)[0] == 0
    # a file dropped into the directory by hand, cut short
    shutil.copy(variants["truncated-half"], registry / MODEL / "adapters" / "v2.0-2026-01-01-10examples.gguf")
    shutil.copy(tiny.v2_2, registry / MODEL / "adapters" / "latest.gguf")  # not the naming convention
    code, out, _ = run(runner, "list", "--json")
    assert code == 0
    adapters = json.loads(out)["models"][0]["adapters"]
    by_file = {a["file"]: a for a in adapters}
    assert [a["version"] for a in adapters] == ["v2.0", "v2.1", "latest"]
    assert by_file["v2.0-2026-01-01-10examples.gguf"]["base_status"] == "unreadable"
    assert "truncated" in by_file["v2.0-2026-01-01-10examples.gguf"]["problem"]
    assert by_file["latest.gguf"]["name_error"] is not None
    assert by_file["latest.gguf"]["base_status"] == "verified"
    code, out, _ = run(runner, "list")
    assert code == 0 and "truncated" in out and "warning:" in out
