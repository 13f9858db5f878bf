"""Validation of the tiny model's real adapters, and of damaged or mismatched copies (AD4, AD5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slipway.core.errors import (
    AdapterInvalid,
    AdapterMismatchError,
    BaseUnknownError,
    FileCheckError,
    GGUFError,
)
from slipway.demo.tiny_model import TinyModelPaths
from slipway.registry.report import CheckStatus
from slipway.registry.validate import validate_adapter


@pytest.mark.parametrize("version", ["v2_1", "v2_2"])
def test_the_shipped_adapters_pass(tiny: TinyModelPaths, version: str) -> None:
    adapter = getattr(tiny, version)
    report = validate_adapter(adapter, tiny.base)
    assert report.ok, [str(c.error) for c in report.failures]
    assert {c.status for c in report.checks} == {CheckStatus.PASSED}
    fingerprint = report.get("base-identity")
    assert fingerprint is not None and tiny.base_fingerprint[:16] in fingerprint.detail
    shapes = report.get("tensor-shapes")
    assert shapes is not None and shapes.detail == "1 LoRA pair(s) fit the base, rank 4"


def test_the_foreign_adapter_passes_on_its_own_base(tiny: TinyModelPaths) -> None:
    assert validate_adapter(tiny.wrong_base_adapter, tiny.other_base).ok


@pytest.mark.parametrize(
    ("variant", "check", "cls", "says"),
    [
        ("corrupt-magic", "header", GGUFError, "not a GGUF file"),
        ("corrupt-counts", "header", GGUFError, "more than a 22848-byte file can hold"),
        ("corrupt-header", "intact", GGUFError, "corrupt"),
        ("truncated-half", "intact", GGUFError, "truncated: tensor 'output.weight.lora_b'"),
        ("truncated-tail", "intact", GGUFError, "truncated: tensor 'output.weight.lora_b'"),
        ("not-lora", "adapter-type", AdapterInvalid, "not a LoRA adapter"),
        ("wrong-arch", "architecture", AdapterMismatchError, "another architecture"),
        ("wrong-n-out", "tensor-shapes", AdapterMismatchError, "do not fit the base tensor (1121, 256)"),
        ("wrong-rank", "tensor-shapes", AdapterMismatchError, "lora_b (1121, 3)"),
        ("transposed", "tensor-shapes", AdapterMismatchError, "lora_a (256, 4)"),
        ("token-embd-unflipped", "tensor-shapes", AdapterMismatchError, "token_embd.weight"),
    ],
)
def test_each_bad_copy_is_rejected_by_the_right_check(
    tiny: TinyModelPaths,
    variants: dict[str, Path],
    variant: str,
    check: str,
    cls: type[FileCheckError],
    says: str,
) -> None:
    path = variants[variant]
    report = validate_adapter(path, tiny.base)
    assert not report.ok
    first = report.failures[0]
    assert first.name == check, [(c.name, c.detail) for c in report.failures]
    error = first.error
    assert type(error) is cls
    assert error.check == check
    assert says in error.reason, error.reason
    # the message names the file and the check, says what was found and expected, and what to do
    text = str(error)
    assert str(path) in text and f"check '{check}' failed" in text
    assert error.found and error.expected and error.hint
    assert f"found: {error.found}" in text and f"expected: {error.expected}" in text
    with pytest.raises(cls):
        report.raise_for_failure()


def test_an_adapter_that_records_no_base_is_a_warning_that_deploys_refuse(
    tiny: TinyModelPaths, variants: dict[str, Path]
) -> None:
    report = validate_adapter(variants["no-fingerprint"], tiny.base)
    assert report.ok and not report.settled
    check = report.get("base-identity")
    assert check is not None and check.status is CheckStatus.WARNED
    assert check.error is not None and "does not record which base" in check.error.reason
    with pytest.raises(BaseUnknownError):
        report.raise_for_failure()


def test_the_token_embd_layout_llama_cpp_expects_passes(
    tiny: TinyModelPaths, variants: dict[str, Path]
) -> None:
    report = validate_adapter(variants["token-embd"], tiny.base)
    assert report.ok, [str(c.error) for c in report.failures]


def test_new_base_old_adapter_is_caught_only_by_the_fingerprint(tiny: TinyModelPaths) -> None:
    """The seed's failure: same architecture, same shapes, another base."""
    report = validate_adapter(tiny.wrong_base_adapter, tiny.base)
    assert [c.name for c in report.failures] == ["base-identity"]
    error = report.failures[0].error
    assert isinstance(error, AdapterMismatchError)
    assert error.found == tiny.other_base_fingerprint
    assert error.expected == tiny.base_fingerprint
    assert "another base than tiny-support-base.gguf" in error.reason
    for name in ("architecture", "tensor-shapes"):
        check = report.get(name)
        assert check is not None and check.status is CheckStatus.PASSED
