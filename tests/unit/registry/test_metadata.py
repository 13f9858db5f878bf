"""Adapter metadata: GGUF keys and the sidecar merged, the GGUF winning; and the report's bookkeeping."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from slipway.core.errors import AdapterMismatchError, ValidationError
from slipway.registry.loadable import add_loadable_check, check_loadable, skipped_loadable
from slipway.registry.metadata import adapter_metadata, read_sidecar, sidecar_path
from slipway.registry.reader import GGUFFile, TensorInfo
from slipway.registry.report import CheckResult, CheckStatus, ValidationReport


def gguf_file(fields: dict[str, object]) -> GGUFFile:
    tensors = {
        "output.weight.lora_a": TensorInfo("output.weight.lora_a", (256, 4), "F32", 4096, 0),
        "output.weight.lora_b": TensorInfo("output.weight.lora_b", (4, 1121), "F32", 17936, 4096),
    }
    return GGUFFile(Path("a.gguf"), 30000, 3, fields, tensors)


def test_gguf_keys_win_and_disagreements_are_kept() -> None:
    meta = adapter_metadata(
        gguf_file(
            {
                "slipway.base_fingerprint": "abc",
                "slipway.training.examples": 1247,
                "slipway.eval.accuracy": 0.97,
                "adapter.lora.alpha": 4.0,
                "general.name": "customer-support v2.1",
            }
        ),
        {
            "base_fingerprint": "xyz",
            "notes": "shipped to 5 %",
            "training": {"examples": 1300, "data_bytes": 123456},
            "eval": {"accuracy": 0.5, "billing": 0.95},
        },
    )
    assert meta.base_fingerprint == "abc"
    assert meta.sources["base_fingerprint"] == "gguf"
    assert meta.conflicts == {"base_fingerprint": ("abc", "xyz"), "training_examples": (1247, 1300)}
    assert meta.training_examples == 1247
    assert meta.training_data_bytes == 123456 and meta.sources["training_data_bytes"] == "sidecar"
    assert meta.notes == "shipped to 5 %"
    assert meta.eval == {"accuracy": 0.97, "billing": 0.95}
    assert (meta.lora_alpha, meta.lora_rank, meta.targets) == (4.0, 4, ("output.weight",))
    assert meta.to_dict()["training"] == {"examples": 1247, "data_sha256": None, "data_bytes": 123456}


def test_sidecar_only() -> None:
    meta = adapter_metadata(None, {"base_fingerprint": "abc", "version": "v2.1"})
    assert (meta.base_fingerprint, meta.version) == ("abc", "v2.1")
    assert meta.sources == {"base_fingerprint": "sidecar", "version": "sidecar"}


def test_sidecar_file(tmp_path: Path) -> None:
    adapter = tmp_path / "v2.1-2026-01-15-1247examples.gguf"
    assert sidecar_path(adapter) == tmp_path / "v2.1-2026-01-15-1247examples.json"
    assert read_sidecar(adapter) == {}
    sidecar_path(adapter).write_text(json.dumps({"notes": "n"}))
    assert read_sidecar(adapter) == {"notes": "n"}
    sidecar_path(adapter).write_text("{nope")
    with pytest.raises(ValidationError, match="not valid JSON"):
        read_sidecar(adapter)
    sidecar_path(adapter).write_text("[1]")
    with pytest.raises(ValidationError, match="must hold a JSON object"):
        read_sidecar(adapter)


def report(*checks: CheckResult) -> ValidationReport:
    return ValidationReport(Path("a.gguf"), Path("b.gguf"), checks)


def test_report_bookkeeping() -> None:
    error = AdapterMismatchError("no", path="a.gguf", check="architecture", found="'x'", expected="'y'")
    passed = CheckResult("header", CheckStatus.PASSED, "ok", 0.001)
    failed = CheckResult("architecture", CheckStatus.FAILED, error.reason, 0.002, error)
    good, bad = report(passed), report(passed, failed)
    assert good.ok and not bad.ok
    assert bad.failures == (failed,)
    assert bad.seconds == pytest.approx(0.003)
    with pytest.raises(AdapterMismatchError):
        bad.raise_for_failure()
    body = bad.to_dict()
    assert body["ok"] is False
    assert body["checks"][1]["error"]["found"] == "'x'"
    assert body["checks"][1]["description"] == "general.architecture equals the base's"
    replaced = bad.with_check(CheckResult("architecture", CheckStatus.PASSED, "fine"))
    assert replaced.ok and [c.name for c in replaced.checks] == ["header", "architecture"]
    skipped = good.with_check(skipped_loadable("no engine"))
    assert skipped.ok and skipped.checks[-1].status is CheckStatus.SKIPPED


async def test_loadable_check_with_a_probe() -> None:
    async def answers(base: Path, adapter: Path, prompt: str) -> str:
        return " billing"

    async def refuses(base: Path, adapter: Path, prompt: str) -> str:
        raise AdapterMismatchError("engine says no", hint="look at the log")

    ok = await check_loadable(Path("a.gguf"), Path("b.gguf"), answers, prompt="hi")
    assert ok.status is CheckStatus.PASSED and ok.detail == "answered 'hi' with ' billing'"
    bad = await check_loadable(Path("a.gguf"), Path("b.gguf"), refuses)
    assert bad.status is CheckStatus.FAILED and bad.error is not None
    assert bad.error.check == "loadable" and "engine says no" in bad.error.reason
    assert bad.error.hint == "look at the log"

    passed = report(CheckResult("header", CheckStatus.PASSED, "ok"))
    assert (await add_loadable_check(passed, answers)).checks[-1].status is CheckStatus.PASSED
    none = await add_loadable_check(passed, None, unavailable="no engine")
    assert none.checks[-1].detail == "skipped: no engine"
    error = AdapterMismatchError("no", check="architecture")
    failing = report(CheckResult("architecture", CheckStatus.FAILED, "no", 0.0, error))
    after = await add_loadable_check(failing, answers)
    assert after.checks[-1].status is CheckStatus.SKIPPED  # a bad adapter is never loaded
