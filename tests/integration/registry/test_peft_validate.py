"""PEFT adapter directories validated against a tiny Hugging Face base: the good one passes, each broken one
is refused by the check that names its problem, with what was found, what was expected and the fix."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from tests.peft_files import (
    PeftCorpus,
    build_peft_corpus,
    lora_tensors,
    safetensors_bytes,
    write_hf_base,
    write_peft_adapter,
)

from slipway.core.errors import AdapterInvalid, AdapterMismatchError, BaseUnknownError
from slipway.registry.hf_base import open_hf_base
from slipway.registry.peft_validate import validate_peft_adapter
from slipway.registry.report import CHECKS, PEFT_CHECKS, CheckStatus, ValidationReport
from slipway.registry.safetensors_header import read_safetensors_header


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> PeftCorpus:
    return build_peft_corpus(tmp_path_factory.mktemp("peft"))


def statuses(report: ValidationReport) -> dict[str, CheckStatus]:
    return {c.name: c.status for c in report.checks}


def test_the_good_adapter_passes_every_file_check(corpus: PeftCorpus) -> None:
    report = validate_peft_adapter(corpus.good, corpus.base, max_lora_rank=16)
    assert report.ok, report.to_dict()
    assert [c.name for c in report.checks] == list(PEFT_CHECKS)
    assert all(name in CHECKS for name in PEFT_CHECKS)
    assert {c.status for c in report.checks} == {CheckStatus.PASSED} and report.settled
    # The name PEFT recorded is this base's, and the modules and shapes back it up.
    identity = report.get("base-identity")
    assert identity is not None and identity.identity is not None
    assert identity.detail == "verified: base model name matches; architecture matches; tensor shapes matches"


def test_an_adapter_that_names_no_base_is_unknown_a_warning_that_add_refuses(
    tmp_path: Path, corpus: PeftCorpus
) -> None:
    adapter = write_peft_adapter(tmp_path / "anonymous", base_name=None)
    report = validate_peft_adapter(adapter, corpus.base)
    assert report.ok and not report.settled
    identity = report.get("base-identity")
    assert identity is not None and identity.status is CheckStatus.WARNED
    assert identity.detail.startswith("unknown:") and identity.error is not None
    assert identity.error.code == "base_unknown" and "--trust-base" in (identity.error.hint or "")
    assert report.warnings == (identity,)
    with pytest.raises(BaseUnknownError):
        report.raise_for_failure()
    report.raise_for_failure(allow_warnings=True)
    shapes = report.get("lora-shapes")
    assert shapes is not None and "4 LoRA module(s) fit the base, rank 4" in shapes.detail


CASES = {
    # tag: (failing check, error class, words in the message, words in the fix)
    "truncated": (
        "safetensors-intact",
        AdapterInvalid,
        ["beyond the end of the file", "cut short"],
        ["again"],
    ),
    "wrong-shape": ("lora-shapes", AdapterMismatchError, ["v_proj.lora_B", "[16, 4]", "[8, 4]"], ["base"]),
    "unknown-target": ("target-modules", AdapterMismatchError, ["'c_attn'", "llama"], ["target_modules"]),
    "rank-too-high": ("max-rank", AdapterInvalid, ["rank", "max LoRA rank"], ["--max-lora-rank"]),
    "wrong-base": (
        "base-identity",
        AdapterMismatchError,
        ["another base than tiny-llama", "name"],
        ["--trust-base"],
    ),
    "bad-peft-type": ("peft-type", AdapterInvalid, ["not a LoRA adapter"], ["LoraConfig"]),
    "unparsable-config": ("peft-config", AdapterInvalid, ["not valid JSON", "line 1"], ["save_pretrained"]),
    "unsupported-dtype": ("dtype", AdapterInvalid, ["8 tensor(s)", "dtype"], ["bfloat16"]),
    "layer-beyond": ("lora-shapes", AdapterMismatchError, ["layer 2", "the base has 2 layers"], ["depth"]),
}


@pytest.mark.parametrize("tag", sorted(CASES))
def test_each_broken_adapter_is_refused_by_its_check(corpus: PeftCorpus, tag: str) -> None:
    check, cls, words, fix = CASES[tag]
    report = validate_peft_adapter(corpus.broken[tag], corpus.base, max_lora_rank=16)
    assert not report.ok
    # A weight that does not fit also contradicts the base the adapter names: base-identity fails too.
    assert report.failures[0].name == check, report.to_dict()
    assert {c.name for c in report.failures} <= {check, "base-identity"}
    error = report.failures[0].error
    assert isinstance(error, cls) and error.check == check
    for word in words:
        assert word in error.reason, (word, error.reason)
    for word in fix:
        assert word in (error.hint or ""), (word, error.hint)
    assert error.found and error.expected
    with pytest.raises(cls):
        report.raise_for_failure()


def test_the_found_and_expected_of_a_wrong_shape_say_the_numbers(corpus: PeftCorpus) -> None:
    report = validate_peft_adapter(corpus.broken["wrong-shape"], corpus.base)
    error = report.failures[0].error
    assert error is not None
    assert error.found == "base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight: [16, 4]"
    assert error.expected == "[8, 4] (rank 4; v_proj is 16 -> 8 in the base)"


def test_checks_that_cannot_run_are_skipped_with_the_reason(corpus: PeftCorpus) -> None:
    got = validate_peft_adapter(corpus.broken["bad-peft-type"], corpus.base)
    for name in ("lora-config", "max-rank", "target-modules", "lora-shapes", "base-identity"):
        check = got.get(name)
        assert check is not None and check.status is CheckStatus.SKIPPED
        assert check.detail == "skipped: the adapter is not LoRA"


def test_the_engines_limit_is_a_parameter(corpus: PeftCorpus) -> None:
    assert validate_peft_adapter(corpus.broken["rank-too-high"], corpus.base, max_lora_rank=32).ok
    report = validate_peft_adapter(corpus.good, corpus.base, max_lora_rank=2)
    assert [c.name for c in report.failures] == ["max-rank"]
    error = report.failures[0].error
    assert error is not None and error.found == "rank 4" and error.expected == "at most 2"


def test_rank_pattern_gives_one_module_its_own_rank(tmp_path: Path, corpus: PeftCorpus) -> None:
    tensors = lora_tensors(r=4, targets=("q_proj",))
    tensors |= lora_tensors(r=8, targets=("v_proj",))
    config = {"rank_pattern": {"v_proj": 8}, "target_modules": ["q_proj", "v_proj"]}
    adapter = write_peft_adapter(tmp_path / "patterned", tensors=tensors, config=config)
    report = validate_peft_adapter(adapter, corpus.base, max_lora_rank=16)
    assert report.ok, report.to_dict()
    report = validate_peft_adapter(adapter, corpus.base, max_lora_rank=4)
    assert [c.name for c in report.failures] == ["max-rank"]
    assert report.failures[0].error is not None and "rank_pattern" in report.failures[0].error.reason
    # Without the pattern the v_proj weights no longer fit rank 4.
    unpatterned = write_peft_adapter(tmp_path / "unpatterned", tensors=tensors)
    assert validate_peft_adapter(unpatterned, corpus.base).failures[0].name == "lora-shapes"


def test_embeddings_and_lm_head(tmp_path: Path, corpus: PeftCorpus) -> None:
    tensors = {
        "base_model.model.model.embed_tokens.lora_embedding_A": np.zeros((4, 32), np.float32),
        "base_model.model.model.embed_tokens.lora_embedding_B": np.zeros((16, 4), np.float32),
        "base_model.model.lm_head.lora_A.weight": np.zeros((4, 16), np.float32),
        "base_model.model.lm_head.lora_B.weight": np.zeros((32, 4), np.float32),
    }
    good = write_peft_adapter(tmp_path / "emb", tensors=tensors, targets=("embed_tokens", "lm_head"))
    assert validate_peft_adapter(good, corpus.base).ok
    flipped = dict(tensors)
    flipped["base_model.model.model.embed_tokens.lora_embedding_A"] = np.zeros((4, 16), np.float32)
    bad = write_peft_adapter(tmp_path / "emb-bad", tensors=flipped, targets=("embed_tokens", "lm_head"))
    assert validate_peft_adapter(bad, corpus.base).failures[0].name == "lora-shapes"


def test_bf16_and_f16_are_accepted(tmp_path: Path, corpus: PeftCorpus) -> None:
    tensors = {n: a.astype(np.uint16) for n, a in lora_tensors().items()}  # 2-byte elements
    adapter = write_peft_adapter(tmp_path / "bf16", tensors=tensors, dtypes=dict.fromkeys(tensors, "BF16"))
    report = validate_peft_adapter(adapter, corpus.base)
    assert report.ok and report.get("dtype") is not None
    assert report.get("dtype").detail == "BF16"  # type: ignore[union-attr]
    half = write_peft_adapter(
        tmp_path / "f16", tensors={n: a.astype(np.float16) for n, a in lora_tensors().items()}
    )
    assert validate_peft_adapter(half, corpus.base).ok


def test_a_recorded_fingerprint_verifies_or_refuses_the_base(corpus: PeftCorpus, tmp_path: Path) -> None:
    base, other = open_hf_base(corpus.base), open_hf_base(corpus.other_base)
    assert base.fingerprint != other.fingerprint  # same shapes, another tokenizer
    verified = validate_peft_adapter(corpus.good, base, sidecar={"base_fingerprint": base.fingerprint})
    identity = verified.get("base-identity")
    assert identity is not None and identity.status is CheckStatus.PASSED
    assert identity.detail.startswith("verified: fingerprint matches")

    refused = validate_peft_adapter(corpus.good, base, sidecar={"base_fingerprint": other.fingerprint})
    assert [c.name for c in refused.failures] == ["base-identity"]
    error = refused.failures[0].error
    assert error is not None and error.found == other.fingerprint and error.expected == base.fingerprint

    # The same, from the sidecar file beside the directory and from adapter_config.json.
    adapter = write_peft_adapter(tmp_path / "v1")
    (tmp_path / "v1.json").write_text(json.dumps({"base_fingerprint": other.fingerprint}))
    assert [c.name for c in validate_peft_adapter(adapter, base).failures] == ["base-identity"]
    in_config = write_peft_adapter(tmp_path / "v2", config={"slipway_base_fingerprint": base.fingerprint})
    identity = validate_peft_adapter(in_config, base).get("base-identity")
    assert (
        identity is not None
        and identity.status is CheckStatus.PASSED
        and "adapter_config.json" in identity.detail
    )


def test_the_fingerprint_covers_tokenizer_and_sizes_not_names(tmp_path: Path) -> None:
    one = open_hf_base(write_hf_base(tmp_path / "a", name_or_path="x/a")).fingerprint
    renamed = open_hf_base(write_hf_base(tmp_path / "b", name_or_path="y/b")).fingerprint
    deeper = open_hf_base(write_hf_base(tmp_path / "c", config={"num_hidden_layers": 3})).fingerprint
    tokens = open_hf_base(write_hf_base(tmp_path / "d", tokens=[f"x{i}" for i in range(32)])).fingerprint
    assert one == renamed
    assert len({one, deeper, tokens}) == 3


def test_an_unknown_architecture_is_said_not_guessed(tmp_path: Path, corpus: PeftCorpus) -> None:
    base = write_hf_base(
        tmp_path / "gpt" / "tiny-llama", config={"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}
    )
    report = validate_peft_adapter(corpus.good, base)
    assert report.ok  # not refused: nothing wrong was found ...
    for name in ("target-modules", "lora-shapes"):
        check = report.get(name)
        assert check is not None and check.status is CheckStatus.WARNED  # ... and nothing was claimed
        assert "does not know the module names of model_type 'gpt2'" in check.detail


def test_a_base_without_the_needed_sizes_is_refused(tmp_path: Path, corpus: PeftCorpus) -> None:
    base = write_hf_base(tmp_path / "nosize")
    config = json.loads((base / "config.json").read_text())
    del config["hidden_size"]
    (base / "config.json").write_text(json.dumps(config))
    report = validate_peft_adapter(corpus.good, base)
    assert [c.name for c in report.failures] == ["base-config"]
    error = report.failures[0].error
    assert (
        error is not None and "hidden_size is missing" in error.reason and "config.json" in (error.hint or "")
    )
    assert statuses(report)["lora-shapes"] is CheckStatus.SKIPPED


def test_a_file_instead_of_a_directory(tmp_path: Path, corpus: PeftCorpus) -> None:
    file = tmp_path / "adapter.safetensors"
    file.write_bytes(b"x")
    report = validate_peft_adapter(file, corpus.base)
    assert report.failures[0].name == "peft-config"
    assert report.failures[0].error is not None and "is a directory" in report.failures[0].error.reason


def test_lora_fields_vllm_refuses(tmp_path: Path, corpus: PeftCorpus) -> None:
    for key, value, word in (
        ("use_dora", True, "DoRA"),
        ("bias", "all", "biases"),
        ("r", 0, "from 1"),
        ("target_modules", [], "module names"),
        ("rank_pattern", {"v_proj": "eight"}, "whole number"),
    ):
        adapter = write_peft_adapter(tmp_path / key, config={key: value})
        report = validate_peft_adapter(adapter, corpus.base)
        assert [c.name for c in report.failures] == ["lora-config"], key
        error = report.failures[0].error
        assert error is not None and key in error.reason and word in (error.expected or ""), error


def test_a_huge_config_is_not_read(tmp_path: Path, corpus: PeftCorpus) -> None:
    adapter = write_peft_adapter(tmp_path / "huge")
    (adapter / "adapter_config.json").write_text('{"peft_type": "LORA", "pad": "' + "x" * 300_000 + '"}')
    report = validate_peft_adapter(adapter, corpus.base)
    assert report.failures[0].name == "peft-config"
    assert report.failures[0].error is not None and "too large" in report.failures[0].error.reason


# --------------------------------------------------------------------------- safetensors bounds


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "adapter_model.safetensors"
    path.write_bytes(data)
    return path


def _with_header(header: dict[str, object], data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"\x01\x02", "too short"),
        (struct.pack("<Q", 1 << 40) + b"{}", "not plausible"),
        (struct.pack("<Q", 100) + b"{}", "ends inside its header"),
        (struct.pack("<Q", 4) + b"nope", "not valid JSON"),
        (
            _with_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
            "dtype x shape",
        ),
        (
            _with_header(
                {
                    "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
                },
                b"\0" * 12,
            ),
            "share bytes",
        ),
        (
            _with_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 8),
            "extra bytes",
        ),
        (
            _with_header({"a": {"dtype": "Q4", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
            "unknown dtype",
        ),
        (_with_header({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4), "shape"),
        (
            _with_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, b"\0" * 4),
            "begin <= end",
        ),
        (_with_header({"a": [1, 2]}, b""), "entry is not"),
    ],
)
def test_safetensors_damage_is_named(tmp_path: Path, data: bytes, words: str) -> None:
    with pytest.raises(AdapterInvalid) as caught:
        read_safetensors_header(_file(tmp_path, data))
    assert caught.value.check == "safetensors-intact"
    assert words in caught.value.reason, caught.value.reason


def test_a_well_formed_file_is_read_without_loading_tensors(tmp_path: Path) -> None:
    tensors = lora_tensors()
    header = read_safetensors_header(_file(tmp_path, safetensors_bytes(tensors)))
    assert set(header.tensors) == set(tensors)
    for name, array in tensors.items():
        assert header.tensors[name].shape == array.shape and header.tensors[name].dtype == "F32"
    assert header.metadata == {"format": "pt"}
    assert header.data_end == sum(a.nbytes for a in tensors.values())
