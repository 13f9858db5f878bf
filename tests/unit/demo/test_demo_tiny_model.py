"""The tiny model files: llama.cpp's adapter layout, slipway's metadata, the fingerprint."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import gguf
import numpy as np
import pytest

from slipway.demo.tickets import INTENTS, Ticket, held_out_tickets, vocabulary
from slipway.demo.tiny_model import (
    N_EMBD,
    RANK,
    TinyModelPaths,
    build_tiny_models,
    build_vocab,
    make_weights,
    retrain_v2_3,
    simulate_generation,
    tokenize,
)
from slipway.registry.fingerprint import (
    FINGERPRINT_KEY,
    base_fingerprint,
    compute_fingerprint,
    recorded_fingerprint,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


def _fields(path: Path) -> dict[str, Any]:
    reader = gguf.GGUFReader(path)
    return {name: field.contents() for name, field in reader.fields.items()}


def _tensors(path: Path) -> dict[str, tuple[list[int], str]]:
    reader = gguf.GGUFReader(path)
    return {t.name: ([int(d) for d in t.shape], t.tensor_type.name) for t in reader.tensors}


def test_layout_follows_the_registry_convention(models: TinyModelPaths) -> None:
    root = models.root
    assert models.base == root / "customer-support" / "base" / "tiny-support-base.gguf"
    assert models.v2_1.name == "v2.1-2026-01-15-1247examples.gguf"
    assert models.v2_2.name == "v2.2-2026-02-12-1891examples.gguf"
    assert models.v2_1.parent == root / "customer-support" / "adapters"
    assert models.wrong_base_adapter.parent == root / "other-support" / "adapters"
    for path in (models.base, *models.adapters, models.other_base, models.wrong_base_adapter):
        assert path.is_file()


def test_base_is_a_one_layer_f32_llama_with_spm_vocab(models: TinyModelPaths) -> None:
    fields = _fields(models.base)
    assert fields["general.architecture"] == "llama"
    assert fields["llama.block_count"] == 1
    assert fields["llama.embedding_length"] == N_EMBD
    assert fields["llama.attention.head_count"] == 4
    assert fields["tokenizer.ggml.model"] == "llama"
    tokens = fields["tokenizer.ggml.tokens"]
    # every '▁'-prefix of every word, or SentencePiece merges fall back to bytes
    for word in ("billing", "refund", "technical"):
        for k in range(1, len(word) + 1):
            assert "▁" + word[:k] in tokens
    tensors = _tensors(models.base)
    assert tensors["output.weight"] == ([N_EMBD, len(tokens)], "F32")
    assert all(kind == "F32" for _, kind in tensors.values())


@pytest.mark.parametrize("which", ["v2_1", "v2_2"])
def test_adapters_use_llama_cpp_lora_layout_and_record_their_base(models: TinyModelPaths, which: str) -> None:
    path: Path = getattr(models, which)
    fields = _fields(path)
    assert fields["general.architecture"] == "llama"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(RANK)
    assert fields[FINGERPRINT_KEY] == models.base_fingerprint == base_fingerprint(models.base)
    match = re.fullmatch(r"(v[\d.]+)-(\d{4}-\d\d-\d\d)-(\d+)examples\.gguf", path.name)
    assert match is not None
    version, date, examples = match.groups()
    assert fields["slipway.version"] == version
    assert fields["slipway.training.examples"] == int(examples)
    assert fields["slipway.created"].startswith(date)
    assert len(fields["slipway.training.data_sha256"]) == 64
    n_vocab = len(_fields(models.base)["tokenizer.ggml.tokens"])
    # GGUF dimension order: lora_a ne = (n_embd, r), lora_b ne = (r, n_vocab)
    assert _tensors(path) == {
        "output.weight.lora_a": ([N_EMBD, RANK], "F32"),
        "output.weight.lora_b": ([RANK, n_vocab], "F32"),
    }
    assert path.stat().st_size < 32_000


def test_wrong_base_adapter_fits_the_shapes_but_not_the_fingerprint(models: TinyModelPaths) -> None:
    assert _tensors(models.wrong_base_adapter) == _tensors(models.v2_1)
    assert {n: s for n, (s, _) in _tensors(models.other_base).items()} == {
        n: s for n, (s, _) in _tensors(models.base).items()
    }
    assert models.other_base_fingerprint == base_fingerprint(models.other_base)
    assert models.other_base_fingerprint != models.base_fingerprint
    assert recorded_fingerprint(models.wrong_base_adapter) == models.other_base_fingerprint
    assert recorded_fingerprint(models.v2_1) == models.base_fingerprint
    assert recorded_fingerprint(models.base) is None


def test_expected_accuracies_tell_the_story(models: TinyModelPaths) -> None:
    base, v21, v22 = models.expected["base"], models.expected["v2.1"], models.expected["v2.2"]
    assert 0.5 <= base["overall"] <= 0.7
    assert v21["overall"] >= 0.94
    assert 0.85 <= v22["overall"] <= 0.93
    assert 0.6 <= v22["billing"] <= 0.78
    assert v21["billing"] - v22["billing"] > 0.15  # the refund tickets went to shipping
    for intent in ("account", "shipping", "technical"):
        assert v22[intent] >= 0.9


def test_same_seed_writes_identical_files(models: TinyModelPaths, tmp_path: Path) -> None:
    again = build_tiny_models(tmp_path, seed=0)
    for a, b in zip(
        (models.base, *models.adapters, models.wrong_base_adapter),
        (again.base, *again.adapters, again.wrong_base_adapter),
        strict=True,
    ):
        assert a.read_bytes() == b.read_bytes(), a.name


def test_tokenize_matches_the_word_pieces() -> None:
    vocab = build_vocab(vocabulary())
    ticket = held_out_tickets(1, seed=0)[0]
    ids = tokenize(ticket.prompt, vocab)
    pieces = [vocab.tokens[i] for i in ids]
    assert pieces[0] == "<s>"
    assert pieces[1:3] == ["▁ticket", ":"]
    assert pieces[-2:] == ["▁intent", ":"]
    assert pieces[3:-2] == ["▁" + w for w in ticket.text.split()]
    assert [vocab.index["▁" + i] for i in INTENTS] == vocab.label_ids()


def test_fingerprint_covers_tokens_shapes_and_architecture_only() -> None:
    shapes = [("a.weight", [4, 2]), ("b.weight", [3])]
    fp = compute_fingerprint("llama", "llama", ["x", "y"], shapes)
    assert fp == compute_fingerprint("llama", "llama", [b"x", b"y"], list(reversed(shapes)))
    assert fp != compute_fingerprint("qwen2", "llama", ["x", "y"], shapes)
    assert fp != compute_fingerprint("llama", "llama", ["y", "x"], shapes)
    assert fp != compute_fingerprint("llama", "llama", ["x", "y"], [("a.weight", [2, 4]), ("b.weight", [3])])
    # length-prefixed: moving a boundary between tokens changes the hash
    assert compute_fingerprint("l", "l", ["ab", "c"], []) != compute_fingerprint("l", "l", ["a", "bc"], [])
    assert re.fullmatch(r"[0-9a-f]{64}", fp)


def _answers(adapter: Path, base: Path, tickets: list[Ticket]) -> list[str]:
    """What llama.cpp answers with `adapter` on `base`, by the same forward pass the model was built from."""
    weights = make_weights(build_vocab(vocabulary()), seed=17)  # seed 0's embeddings
    tensors = {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(base).tensors}
    lora = {t.name: np.array(t.data, dtype=np.float64) for t in gguf.GGUFReader(adapter).tensors}
    out = tensors["output.weight"] + lora["output.weight.lora_b"] @ lora["output.weight.lora_a"]
    return simulate_generation(weights, out, tickets)


def test_the_flawed_v2_3_is_v2_2_under_a_new_version(models: TinyModelPaths) -> None:
    assert models.v2_3_flawed is not None
    assert _fields(models.v2_3_flawed)["slipway.version"] == "v2.3"
    assert recorded_fingerprint(models.v2_3_flawed) == models.base_fingerprint
    tickets = held_out_tickets(200, 0)
    assert _answers(models.v2_3_flawed, models.base, tickets) == _answers(models.v2_2, models.base, tickets)


def test_the_retrained_v2_3_answers_the_corrections_right(models: TinyModelPaths) -> None:
    tickets = held_out_tickets(200, 0)
    wrong = [
        t for t, a in zip(tickets, _answers(models.v2_2, models.base, tickets), strict=True) if a != t.intent
    ]
    assert any(t.intent == "billing" for t in wrong), "v2.2 gets refunds wrong"
    corrections = [(t.prompt, t.intent) for t in wrong] + [
        ("ticket: not our words at all intent:", "billing")
    ]
    fixed = retrain_v2_3(models, 0, corrections)
    assert fixed.name == f"v2.3-2026-03-09-{1310 + len(wrong)}examples.gguf", "the unknown words are left out"
    assert recorded_fingerprint(fixed) == models.base_fingerprint
    assert _answers(fixed, models.base, wrong) == [t.intent for t in wrong]
    answers = _answers(fixed, models.base, tickets)
    assert sum(a == t.intent for a, t in zip(answers, tickets, strict=True)) / len(tickets) >= 0.94
