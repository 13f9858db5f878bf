"""Write small GGUF bases and adapters, and damaged copies of real ones, for registry tests.

Everything goes through the `gguf` package's own GGUFWriter, so the files
are what llama.cpp's converters would write; the damage (random header
bytes, a cut-short copy) is done to the bytes afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from slipway.registry.fingerprint import FINGERPRINT_KEY, base_fingerprint


def write_base(
    path: Path,
    *,
    arch: str = "llama",
    n_embd: int = 8,
    n_vocab: int = 12,
    n_ff: int = 16,
    tokens: list[str] | None = None,
) -> Path:
    """A minimal "model" GGUF: tokenizer keys plus a few named tensors (values irrelevant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
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
) -> Path:
    """A LoRA adapter with exactly these tensors (numpy shapes as given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), arch)
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
