"""Validation checks on small synthetic GGUFs: each failure names the file, the check, found and expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.gguf_files import fingerprint_of, lora_pair, write_adapter, write_base

from slipway.core.errors import (
    AdapterInvalid,
    AdapterMismatchError,
    BaseUnknownError,
    FileCheckError,
    GGUFError,
)
from slipway.registry.report import CHECKS, GGUF_CHECKS, CheckStatus, ValidationReport
from slipway.registry.validate import open_base, validate_adapter

N_EMBD, N_VOCAB, N_FF = 8, 12, 16


@pytest.fixture
def base(tmp_path: Path) -> Path:
    return write_base(tmp_path / "base" / "base.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, n_ff=N_FF)


def adapter(tmp_path: Path, base: Path, tensors: dict[str, Any] | None = None, **kw: Any) -> Path:
    kw.setdefault("fingerprint", fingerprint_of(base))
    tensors = tensors if tensors is not None else lora_pair("output.weight", N_VOCAB, N_EMBD)
    return write_adapter(tmp_path / "adapters" / "a.gguf", tensors, **kw)


def statuses(report: ValidationReport) -> dict[str, str]:
    return {c.name: str(c.status) for c in report.checks}


def failed(report: ValidationReport, check: str) -> FileCheckError:
    result = report.get(check)
    assert result is not None and result.status is CheckStatus.FAILED, statuses(report)
    assert result.error is not None
    assert result.error.check == check
    assert result.detail == result.error.reason
    return result.error


def test_a_fitting_adapter_passes_every_file_check_in_order(tmp_path: Path, base: Path) -> None:
    tensors = {
        **lora_pair("output.weight", N_VOCAB, N_EMBD),
        **lora_pair("blk.0.attn_q.weight", N_EMBD, N_EMBD, rank=2),
        **lora_pair("blk.0.ffn_up.weight", N_FF, N_EMBD, rank=2),
        "blk.0.attn_norm.weight": np.ones(N_EMBD, dtype=np.float32),  # ignored, as llama.cpp does
    }
    report = validate_adapter(adapter(tmp_path, base, tensors), base)
    assert report.ok, [c.detail for c in report.failures]
    assert [c.name for c in report.checks] == list(GGUF_CHECKS)
    assert all(n in CHECKS for n in GGUF_CHECKS)
    assert all(c.status is CheckStatus.PASSED for c in report.checks)
    assert all(c.seconds >= 0 for c in report.checks)
    assert "3 LoRA pair(s)" in report.checks[6].detail
    assert report.to_dict()["ok"] is True
    report.raise_for_failure()  # no-op


def test_not_an_adapter_skips_what_cannot_apply(tmp_path: Path, base: Path) -> None:
    report = validate_adapter(base, base)
    error = failed(report, "general-type")
    assert isinstance(error, AdapterInvalid)
    assert error.found == "'model'" and error.expected == "'adapter'"
    assert error.hint and "base model" in error.hint
    assert statuses(report)["adapter-type"] == "skip"
    for name in ("architecture", "tensor-shapes", "base-identity"):
        assert statuses(report)[name] == "skip"
    with pytest.raises(AdapterInvalid):
        report.raise_for_failure()


@pytest.mark.parametrize(("adapter_type", "found"), [("control_vector", "'control_vector'"), (None, "no ")])
def test_adapter_type_must_be_lora(tmp_path: Path, base: Path, adapter_type: str | None, found: str) -> None:
    report = validate_adapter(adapter(tmp_path, base, adapter_type=adapter_type), base)
    error = failed(report, "adapter-type")
    assert isinstance(error, AdapterInvalid)
    assert error.found is not None and error.found.startswith(found)
    assert error.expected == "'lora'"


def test_architecture_must_match(tmp_path: Path, base: Path) -> None:
    report = validate_adapter(adapter(tmp_path, base, arch="qwen2"), base)
    error = failed(report, "architecture")
    assert isinstance(error, AdapterMismatchError)
    assert (error.found, error.expected) == ("'qwen2'", "'llama'")
    assert "base.gguf" in error.reason
    # independent checks still run and report
    assert statuses(report)["tensor-shapes"] == "pass"
    assert statuses(report)["base-identity"] == "pass"


@pytest.mark.parametrize(
    ("tensors", "cls", "says", "found", "expected"),
    [
        pytest.param(
            {**lora_pair("output.weight", N_VOCAB + 1, N_EMBD)},
            AdapterMismatchError,
            "do not fit the base tensor (12, 8)",
            "output.weight: lora_a (4, 8), lora_b (13, 4)",
            "lora_a (4, 8), lora_b (12, 4) for base (12, 8) (numpy order)",
            id="n_out",
        ),
        pytest.param(
            {**lora_pair("output.weight", N_VOCAB, N_EMBD + 2)},
            AdapterMismatchError,
            "do not fit",
            "output.weight: lora_a (4, 10), lora_b (12, 4)",
            "lora_a (4, 8), lora_b (12, 4) for base (12, 8) (numpy order)",
            id="n_in",
        ),
        pytest.param(
            {
                "output.weight.lora_a": np.zeros((4, N_EMBD)),
                "output.weight.lora_b": np.zeros((N_VOCAB, 3)),
            },
            AdapterMismatchError,
            "do not fit",
            "output.weight: lora_a (4, 8), lora_b (12, 3)",
            "lora_a (4, 8), lora_b (12, 4) for base (12, 8) (numpy order)",
            id="rank",
        ),
        pytest.param(
            {  # A and B transposed (the old "finetune" layout)
                "output.weight.lora_a": np.zeros((N_EMBD, 4)),
                "output.weight.lora_b": np.zeros((4, N_VOCAB)),
            },
            AdapterMismatchError,
            "do not fit",
            "output.weight: lora_a (8, 4), lora_b (4, 12)",
            "lora_a (4, 8), lora_b (12, 4) for base (12, 8) (numpy order)",
            id="transposed",
        ),
        pytest.param(
            {**lora_pair("blk.7.attn_q.weight", N_EMBD, N_EMBD)},
            AdapterMismatchError,
            "the base has no such tensor",
            "LoRA for 'blk.7.attn_q.weight'",
            "targets that exist in the base",
            id="no-target",
        ),
        pytest.param(
            {"output.weight.lora_a": np.zeros((4, N_EMBD))},
            AdapterInvalid,
            "lora_b is missing",
            "only output.weight.lora_a",
            "output.weight.lora_a and output.weight.lora_b",
            id="half-pair",
        ),
        pytest.param(
            {**lora_pair("output.weight", N_VOCAB, N_EMBD), "output.weight.delta": np.zeros(3)},
            AdapterInvalid,
            "neither a .lora_a nor a .lora_b",
            "'output.weight.delta'",
            "<target>.lora_a / <target>.lora_b",
            id="stray-tensor",
        ),
        pytest.param(
            {"blk.0.attn_norm.weight": np.ones(N_EMBD)},
            AdapterInvalid,
            "holds no LoRA tensors",
            "no <target>.lora_a / .lora_b tensors",
            "at least one pair",
            id="empty",
        ),
    ],
)
def test_tensor_shapes(
    tmp_path: Path,
    base: Path,
    tensors: dict[str, Any],
    cls: type[FileCheckError],
    says: str,
    found: str,
    expected: str,
) -> None:
    report = validate_adapter(adapter(tmp_path, base, tensors), base)
    error = failed(report, "tensor-shapes")
    assert type(error) is cls
    assert says in error.reason
    assert (error.found, error.expected) == (found, expected)
    assert str(tmp_path / "adapters" / "a.gguf") in str(error)
    assert error.hint


def test_token_embd_uses_llama_cpps_flipped_layout(tmp_path: Path, base: Path) -> None:
    # llm_build_inp_embd: numpy lora_a (n_vocab, r), lora_b (n_embd, r)
    good = {
        "token_embd.weight.lora_a": np.zeros((N_VOCAB, 4)),
        "token_embd.weight.lora_b": np.zeros((N_EMBD, 4)),
    }
    assert validate_adapter(adapter(tmp_path, base, good), base).ok
    usual = lora_pair("token_embd.weight", N_VOCAB, N_EMBD)  # the layout every other tensor uses
    report = validate_adapter(adapter(tmp_path, base, usual), base)
    assert failed(report, "tensor-shapes").expected == (
        "lora_a (12, 4), lora_b (8, 4) for base (12, 8) (numpy order)"
    )


def test_many_shape_problems_are_counted_and_the_first_few_listed(tmp_path: Path, base: Path) -> None:
    tensors: dict[str, Any] = {}
    for i in range(5):
        tensors.update(lora_pair(f"blk.{i + 1}.attn_q.weight", N_EMBD, N_EMBD))
    error = failed(validate_adapter(adapter(tmp_path, base, tensors), base), "tensor-shapes")
    assert error.reason.startswith("5 LoRA tensor problem(s)")
    assert "(and 2 more)" in error.reason


def test_wrong_base_fingerprint(tmp_path: Path, base: Path) -> None:
    other = write_base(
        tmp_path / "other.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, tokens=[f"u{i}" for i in range(12)]
    )
    report = validate_adapter(adapter(tmp_path, base, fingerprint=fingerprint_of(other)), base)
    error = failed(report, "base-identity")
    assert isinstance(error, AdapterMismatchError)
    assert (error.found, error.expected) == (fingerprint_of(other), fingerprint_of(base))
    assert "another base" in error.reason
    assert statuses(report)["tensor-shapes"] == "pass"  # same shapes: only the fingerprint tells


def test_nothing_recorded_warns_and_says_how_to_record_it(tmp_path: Path, base: Path) -> None:
    path = adapter(tmp_path, base, fingerprint=None)
    unknown = validate_adapter(path, base)
    check = unknown.get("base-identity")
    assert check is not None and check.status is CheckStatus.WARNED
    assert unknown.ok and not unknown.settled  # a warning, not a failure; add and deploy refuse it
    error = check.error
    assert isinstance(error, BaseUnknownError)
    assert error.found is not None and "no base fingerprint" in error.found
    assert error.hint and "--trust-base" in error.hint and "a.json" in error.hint
    assert fingerprint_of(base) in error.hint
    with pytest.raises(BaseUnknownError):
        unknown.raise_for_failure()
    unknown.raise_for_failure(allow_warnings=True)
    # a sidecar can carry it for adapters converted by other tools
    path.with_suffix(".json").write_text(json.dumps({"base_fingerprint": fingerprint_of(base)}))
    report = validate_adapter(path, base)
    assert report.ok
    check = report.get("base-identity")
    assert check is not None and "from the sidecar" in check.detail


def test_the_gguf_fingerprint_wins_over_a_sidecar(tmp_path: Path, base: Path) -> None:
    path = adapter(tmp_path, base, fingerprint="0" * 64)
    path.with_suffix(".json").write_text(json.dumps({"base_fingerprint": fingerprint_of(base)}))
    error = failed(validate_adapter(path, base), "base-identity")
    assert error.found == "0" * 64


def test_unreadable_adapter_skips_the_rest(tmp_path: Path, base: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf at all")
    report = validate_adapter(bad, base)
    error = failed(report, "header")
    assert isinstance(error, GGUFError)
    assert statuses(report) == {
        "header": "fail",
        "general-type": "skip",
        "adapter-type": "skip",
        "base-file": "pass",
        "architecture": "skip",
        "tensor-shapes": "skip",
        "base-identity": "skip",
    }


def test_a_bad_base_is_named_as_the_base(tmp_path: Path, base: Path) -> None:
    path = adapter(tmp_path, base)
    broken = tmp_path / "broken-base.gguf"
    broken.write_bytes(b"GGUF" + b"\xff" * 40)
    report = validate_adapter(path, broken)
    error = failed(report, "base-file")
    assert isinstance(error, GGUFError)
    assert error.path == str(broken)
    assert "base model" in error.reason
    assert statuses(report)["architecture"] == "skip"
    # an adapter passed as the base
    report = validate_adapter(path, path)
    assert "itself an adapter" in failed(report, "base-file").reason


def test_an_opened_base_is_reused(tmp_path: Path, base: Path) -> None:
    opened = open_base(base)
    first = validate_adapter(adapter(tmp_path, base), opened)
    assert first.ok and first.base == base
    assert opened.fingerprint == fingerprint_of(base)
