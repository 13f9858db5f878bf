"""The checklist's model-file item on real GGUF files: the registry's validation, or n/a with why."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.gguf_files import fingerprint_of, lora_pair, write_adapter, write_base
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
        (True, "v2.2", ItemStatus.FAIL, "failed validation against base.gguf: base-fingerprint"),
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
        "PEFT adapter v2.2-2026-02-12-1891examples passed 8 checks against base tiny-llama" in result.evidence
    )
    assert "warning: base-identity: unknown" in result.evidence
    result = judge.judge_model_file(await check_model_file(slot(bad), {}))
    assert result.status is ItemStatus.FAIL and "lora-shapes" in result.evidence, result.evidence
    result = judge.judge_model_file(await check_model_file(slot(elsewhere), {}))
    assert result.status is ItemStatus.NA and "which holds the file" in result.evidence
