"""The checklist's model-file item on real GGUF files: the registry's validation, or n/a with why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.gguf_files import fingerprint_of, hf_model_dir, lora_pair, write_adapter, write_base
from tests.peft_files import lora_tensors, write_hf_base, write_peft_adapter

from slipway.app.checklist_files import check_model_file
from slipway.backends.engine.fleet import EngineSpec
from slipway.core import checklist_items as judge
from slipway.core.checklist import ItemStatus
from slipway.core.types import BackendKind, Slot

N_EMBD, N_VOCAB, N_FF = 8, 12, 16


def engine(tmp_path: Path, *, other_base: bool = False) -> EngineSpec:
    base = write_base(tmp_path / "base" / "base.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, n_ff=N_FF)
    print_of = fingerprint_of(base)
    if other_base:
        # Made for another base of the same shape: the fingerprint check catches what llama.cpp loads.
        tokens = [f"x{i}" for i in range(N_VOCAB)]
        other = write_base(
            tmp_path / "o" / "base.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, n_ff=N_FF, tokens=tokens
        )
        print_of = fingerprint_of(other)
    good = write_adapter(
        tmp_path / "adapters" / "v2.2-2026-02-12-1891examples.gguf",
        lora_pair("output.weight", N_VOCAB, N_EMBD),
        fingerprint=print_of,
    )
    return EngineSpec(name="support", base=base, adapters=(good,))


@pytest.mark.parametrize(
    ("other_base", "adapter", "status", "words"),
    [
        (False, "v2.2", ItemStatus.PASS, "adapter v2.2-2026-02-12-1891examples.gguf passed 8 checks"),
        (False, None, ItemStatus.PASS, "base base.gguf is a valid GGUF, loaded by engine support"),
        (True, "v2.2", ItemStatus.FAIL, "failed validation against base.gguf: base-identity"),
    ],
)
async def test_an_engine_slots_files_are_validated(
    tmp_path: Path, other_base: bool, adapter: str | None, status: ItemStatus, words: str
) -> None:
    spec = engine(tmp_path, other_base=other_base)
    slot = Slot(
        name="green", endpoint="engine://support", model="cs-v2.2", kind=BackendKind.LLAMACPP, adapter=adapter
    )
    result = judge.judge_model_file(await check_model_file(slot, {"support": spec}))
    assert result.status is status and words in result.evidence, result.evidence


def converted_engine(tmp_path: Path, base_model: str | None, trusted_by: str | None = None) -> EngineSpec:
    """A base and an adapter as llama.cpp's converters write them; the adapter's card names `base_model`."""
    llama = "meta-llama/Llama-3.2-1B-Instruct"
    base_dir = hf_model_dir(tmp_path / "hf" / "Llama-3.2-1B-Instruct", name_or_path=llama)
    base = write_base(
        tmp_path / "base" / "base.gguf", n_embd=N_EMBD, n_vocab=N_VOCAB, n_ff=N_FF, model_dir=base_dir
    )
    card = {"library_name": "peft", **({"base_model": base_model} if base_model else {})}
    adapter = write_adapter(
        tmp_path / "adapters" / "v2.2-2026-02-12-1891examples.gguf",
        lora_pair("output.weight", N_VOCAB, N_EMBD),
        model_dir=hf_model_dir(tmp_path / "peft", card=card),
    )
    if trusted_by is not None:
        record = {"by": trusted_by, "at": "2026-03-10T12:00:00+00:00", "base": base.name}
        sidecar = {"base_fingerprint": fingerprint_of(base), "base_trusted": record}
        adapter.with_suffix(".json").write_text(json.dumps(sidecar))
    return EngineSpec(name="support", base=base, adapters=(adapter,))


@pytest.mark.parametrize(
    ("base_model", "trusted_by", "status", "words"),
    [
        (
            "meta-llama/Llama-3.2-1B-Instruct",
            None,
            ItemStatus.PASS,
            "base verified: the adapter records its base",
        ),
        (
            "Qwen/Qwen2.5-0.5B-Instruct",
            None,
            ItemStatus.FAIL,
            "failed validation against base.gguf: base-identity",
        ),
        (None, None, ItemStatus.FAIL, "its base is unknown"),
        (None, "alice", ItemStatus.PASS, "base trusted: fingerprint"),
    ],
)
async def test_the_base_identity_decides_the_item(
    tmp_path: Path, base_model: str | None, trusted_by: str | None, status: ItemStatus, words: str
) -> None:
    spec = converted_engine(tmp_path, base_model, trusted_by)
    slot = Slot(
        name="green", endpoint="engine://support", model="cs-v2.2", kind=BackendKind.LLAMACPP, adapter="v2.2"
    )
    result = judge.judge_model_file(await check_model_file(slot, {"support": spec}))
    assert result.status is status and words in result.evidence, result.evidence
    if base_model is None and trusted_by is None:
        assert "--trust-base" in result.evidence  # the item names the fix
    if trusted_by is not None:
        assert "on the word of alice" in result.evidence


async def test_a_model_another_server_loads_is_not_applicable_and_says_why(tmp_path: Path) -> None:
    slot = Slot(name="green", endpoint="http://127.0.0.1:11435", model="cs-v2.2", kind=BackendKind.OLLAMA)
    result = judge.judge_model_file(await check_model_file(slot, {}))
    assert result.status is ItemStatus.NA
    assert "loaded by the ollama server at http://127.0.0.1:11435, which holds the file" in result.evidence


async def test_an_engine_that_is_not_running_fails(tmp_path: Path) -> None:
    slot = Slot(name="green", endpoint="engine://gone", model="cs-v2.2", kind=BackendKind.LLAMACPP)
    result = judge.judge_model_file(await check_model_file(slot, {}))
    assert result.status is ItemStatus.FAIL and "engine gone is not running" in result.evidence


async def test_a_vllm_slots_registry_peft_version_is_validated(tmp_path: Path) -> None:
    root = tmp_path / "models"
    write_hf_base(root / "cs" / "base" / "tiny-llama", name_or_path="acme/tiny-llama")
    good = write_peft_adapter(root / "cs" / "adapters" / "v2.2-2026-02-12-1891examples")
    bad = write_peft_adapter(
        root / "cs" / "adapters" / "v2.3-2026-03-01-10examples", r=8, tensors=lora_tensors()
    )
    elsewhere = write_peft_adapter(tmp_path / "elsewhere")

    def slot(adapter: Path) -> Slot:
        return Slot(
            name="green",
            endpoint="http://127.0.0.1:8000",
            model="cs",
            kind=BackendKind.VLLM,
            adapter=str(adapter),
        )

    result = judge.judge_model_file(await check_model_file(slot(good), {}))
    assert result.status is ItemStatus.PASS, result.evidence
    assert (
        "PEFT adapter v2.2-2026-02-12-1891examples passed 9 checks against base tiny-llama" in result.evidence
    )
    assert "base verified: base model name matches" in result.evidence
    anonymous = write_peft_adapter(root / "cs" / "adapters" / "v2.4-2026-03-02-10examples", base_name=None)
    result = judge.judge_model_file(await check_model_file(slot(anonymous), {}))
    assert result.status is ItemStatus.FAIL and "its base is unknown" in result.evidence, result.evidence
    assert "--trust-base" in result.evidence
    result = judge.judge_model_file(await check_model_file(slot(bad), {}))
    assert result.status is ItemStatus.FAIL and "lora-shapes" in result.evidence, result.evidence
    result = judge.judge_model_file(await check_model_file(slot(elsewhere), {}))
    assert result.status is ItemStatus.NA and "which holds the file" in result.evidence
