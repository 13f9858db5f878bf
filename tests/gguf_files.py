"""Write small GGUF bases and adapters, and damaged copies of real ones, for registry tests.

Everything goes through the `gguf` package's own GGUFWriter, so the files
are what llama.cpp's converters would write; the damage (random header
bytes, a cut-short copy) is done to the bytes afterwards.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from slipway.registry.fingerprint import FINGERPRINT_KEY, base_fingerprint


def hf_model_dir(
    path: Path, *, name_or_path: str | None = None, card: Mapping[str, str] | None = None
) -> Path:
    """A Hugging Face model directory as the converters read it: config.json and a README.md model card.

    `name_or_path` is config.json's `_name_or_path` (what a base's identity is
    read from); `card` the README's YAML front matter, where PEFT writes
    `base_model: org/name` for an adapter.
    """
    path.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"architectures": ["LlamaForCausalLM"]}
    if name_or_path is not None:
        config["_name_or_path"] = name_or_path
    (path / "config.json").write_text(json.dumps(config))
    if card:
        front = "\n".join(f"{key}: {value}" for key, value in card.items())
        (path / "README.md").write_text(f"---\n{front}\n---\n\n# Model card\n")
    return path


def _card_metadata(writer: Any, model_dir: Path | None) -> None:
    """The general.* keys llama.cpp's converters write, from the same `gguf.Metadata` reading."""
    if model_dir is not None:
        gguf.Metadata.load(model_path=model_dir).set_gguf_meta_model(writer)


def write_base(
    path: Path,
    *,
    arch: str = "llama",
    n_embd: int = 8,
    n_vocab: int = 12,
    n_ff: int = 16,
    tokens: list[str] | None = None,
    model_dir: Path | None = None,
) -> Path:
    """A minimal "model" GGUF: tokenizer keys plus a few named tensors (values irrelevant).

    With `model_dir` (see `hf_model_dir`), it carries the identity keys
    (general.name, organization, ...) convert_hf_to_gguf.py would write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    _card_metadata(writer, model_dir)
    writer.add_type("model")
    writer.add_string("tokenizer.ggml.model", "llama")
    writer.add_array("tokenizer.ggml.tokens", tokens or [f"t{i}" for i in range(n_vocab)])
    rng = np.random.default_rng(0)
    for name, shape in {
        "token_embd.weight": (n_vocab, n_embd),
        "blk.0.attn_q.weight": (n_embd, n_embd),
        "blk.0.ffn_up.weight": (n_ff, n_embd),
        "blk.0.attn_norm.weight": (n_embd,),
        "output.weight": (n_vocab, n_embd),
    }.items():
        writer.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
    _finish(writer)
    return path


def write_adapter(
    path: Path,
    tensors: Mapping[str, np.ndarray[Any, Any]],
    *,
    arch: str = "llama",
    fingerprint: str | None = None,
    general_type: str | None = "adapter",
    adapter_type: str | None = "lora",
    fields: Mapping[str, Any] | None = None,
    model_dir: Path | None = None,
) -> Path:
    """A LoRA adapter with exactly these tensors (numpy shapes as given).

    With `model_dir` (a PEFT output directory, see `hf_model_dir`), it carries
    the general.base_model.* keys convert_lora_to_gguf.py reads from its card.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
    _card_metadata(writer, model_dir)
    if general_type is not None:
        writer.add_type(general_type)
    if adapter_type is not None:
        writer.add_string("adapter.type", adapter_type)
    writer.add_float32("adapter.lora.alpha", 4.0)
    if fingerprint is not None:
        writer.add_string(FINGERPRINT_KEY, fingerprint)
    for key, value in (fields or {}).items():
        if isinstance(value, str):
            writer.add_string(key, value)
        elif isinstance(value, float):
            writer.add_float32(key, value)
        else:
            writer.add_uint32(key, int(value))
    for name, array in tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(array, dtype=np.float32))
    _finish(writer)
    return path


def lora_pair(target: str, n_out: int, n_in: int, rank: int = 4) -> dict[str, np.ndarray[Any, Any]]:
    """llama.cpp's convention: numpy lora_a (r, n_in), lora_b (n_out, r)."""
    rng = np.random.default_rng(1)
    return {
        f"{target}.lora_a": rng.standard_normal((rank, n_in)).astype(np.float32) * 0.01,
        f"{target}.lora_b": rng.standard_normal((n_out, rank)).astype(np.float32) * 0.01,
    }


def rewrite(
    src: Path,
    dst: Path,
    *,
    arch: str | None = None,
    set_strings: Mapping[str, str] | None = None,
    drop: set[str] | frozenset[str] = frozenset(),
    tensors: Mapping[str, np.ndarray[Any, Any]] | None = None,
) -> Path:
    """Copy a GGUF through GGUFReader → GGUFWriter, changing keys or tensors on the way."""
    reader = gguf.GGUFReader(src)
    arch_field = reader.get_field("general.architecture")
    old_arch = bytes(arch_field.parts[arch_field.data[0]]).decode() if arch_field else "llama"
    dst.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(dst), arch or old_arch)
    overrides = dict(set_strings or {})
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or key in drop:
            continue
        if key in overrides:
            writer.add_string(key, overrides.pop(key))
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), main, field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), main)
    for key, value in overrides.items():
        writer.add_string(key, value)
    new_tensors = dict(tensors) if tensors is not None else {t.name: np.array(t.data) for t in reader.tensors}
    for name, array in new_tensors.items():
        writer.add_tensor(name, np.ascontiguousarray(array))
    _finish(writer)
    return dst


def tensor_arrays(path: Path) -> dict[str, np.ndarray[Any, Any]]:
    return {t.name: np.array(t.data) for t in gguf.GGUFReader(path).tensors}


def corrupt_header(src: Path, dst: Path, *, seed: int, start: int = 8, end: int = 64) -> Path:
    """Random bytes over [start, end): the counts and the first key (magic and version kept)."""
    data = bytearray(src.read_bytes())
    rng = random.Random(seed)
    for i in range(start, min(end, len(data))):
        data[i] = rng.randrange(256)
    dst.write_bytes(bytes(data))
    return dst


def truncate(src: Path, dst: Path, *, keep: float | int) -> Path:
    data = src.read_bytes()
    n = int(len(data) * keep) if isinstance(keep, float) else keep
    dst.write_bytes(data[:n])
    return dst


def fingerprint_of(path: Path) -> str:
    return base_fingerprint(path)


def _finish(writer: Any) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
