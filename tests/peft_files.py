"""Write tiny Hugging Face base directories and PEFT LoRA adapters, good and broken, for registry tests.

The safetensors bytes are written here from the format itself (8-byte
little-endian header length, JSON header, data), not through a library,
so a test can also write what no library would: a header whose offsets
overrun the file, an unsupported dtype. The base needs no weights: PEFT
validation reads only config.json and the tokenizer files.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: The tiny llama-family base: 2 layers, hidden 16, 4 heads of 4, 2 KV heads, MLP 32, vocab 32.
TINY = {
    "model_type": "llama",
    "architectures": ["LlamaForCausalLM"],
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 32,
}
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")


def write_hf_base(
    directory: Path,
    *,
    config: Mapping[str, Any] | None = None,
    tokens: Iterable[str] | None = None,
    name_or_path: str | None = None,
) -> Path:
    """config.json plus tokenizer.json and tokenizer_config.json; no weights."""
    directory.mkdir(parents=True, exist_ok=True)
    body = {**TINY, **(config or {})}
    if name_or_path is not None:
        body["_name_or_path"] = name_or_path
    (directory / "config.json").write_text(json.dumps(body, indent=2))
    vocab = {t: i for i, t in enumerate(tokens or [f"t{i}" for i in range(int(body["vocab_size"]))])}
    tokenizer = {"version": "1.0", "model": {"type": "BPE", "vocab": vocab, "merges": []}}
    (directory / "tokenizer.json").write_text(json.dumps(tokenizer))
    (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 128}))
    return directory


def module_shape(kind: str, config: Mapping[str, Any] = TINY) -> tuple[int, int]:
    """(in_features, out_features) of a llama module; embed_tokens as (vocab, hidden)."""
    hidden, inter = int(config["hidden_size"]), int(config["intermediate_size"])
    head_dim = hidden // int(config["num_attention_heads"])
    q_out = int(config["num_attention_heads"]) * head_dim
    kv_out = int(config["num_key_value_heads"]) * head_dim
    return {
        "q_proj": (hidden, q_out),
        "k_proj": (hidden, kv_out),
        "v_proj": (hidden, kv_out),
        "o_proj": (q_out, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
        "embed_tokens": (int(config["vocab_size"]), hidden),
        "lm_head": (hidden, int(config["vocab_size"])),
    }[kind]


def lora_tensors(
    *,
    r: int = 4,
    targets: Iterable[str] = ("q_proj", "v_proj"),
    layers: Iterable[int] = (0, 1),
    config: Mapping[str, Any] = TINY,
    seed: int = 0,
) -> dict[str, np.ndarray[Any, Any]]:
    """PEFT-named lora_A (r, in) / lora_B (out, r) float32 weights for each layer and target."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray[Any, Any]] = {}
    layer_list = list(layers)
    for kind in targets:
        group = "self_attn" if kind in ATTENTION else "mlp"
        n_in, n_out = module_shape(kind, config) if kind in (*ATTENTION, *MLP) else (8, 8)
        for layer in layer_list:
            prefix = f"base_model.model.model.layers.{layer}.{group}.{kind}"
            out[f"{prefix}.lora_A.weight"] = rng.standard_normal((r, n_in)).astype(np.float32)
            out[f"{prefix}.lora_B.weight"] = np.zeros((n_out, r), dtype=np.float32)
    return out


def safetensors_bytes(
    tensors: Mapping[str, np.ndarray[Any, Any]],
    *,
    dtypes: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """The file's bytes; `dtypes` relabels a tensor's dtype (its array's bytes are written unchanged)."""
    labels = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.float64): "F64"}
    labels |= {np.dtype(np.int8): "I8", np.dtype(np.uint16): "BF16", np.dtype(np.int32): "I32"}
    header: dict[str, Any] = {"__metadata__": dict(metadata or {"format": "pt"})}
    chunks: list[bytes] = []
    offset = 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
        label = (dtypes or {}).get(name) or labels[array.dtype]
        header[name] = {
            "dtype": label,
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes with spaces
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def write_peft_adapter(
    directory: Path,
    *,
    r: int = 4,
    targets: Iterable[str] = ("q_proj", "v_proj"),
    tensors: Mapping[str, np.ndarray[Any, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    base_name: str | None = "tiny-llama",
    dtypes: Mapping[str, str] | None = None,
) -> Path:
    """adapter_config.json (as PEFT writes it, `config` overriding keys) and adapter_model.safetensors."""
    directory.mkdir(parents=True, exist_ok=True)
    target_list = list(targets)
    body: dict[str, Any] = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": r,
        "lora_alpha": 2 * r,
        "lora_dropout": 0.05,
        "target_modules": target_list,
        "bias": "none",
        "base_model_name_or_path": base_name,
        "rank_pattern": {},
        "alpha_pattern": {},
        "use_dora": False,
        "use_rslora": False,
        "fan_in_fan_out": False,
        "inference_mode": True,
    }
    body.update(config or {})
    (directory / "adapter_config.json").write_text(json.dumps(body, indent=2))
    weights = tensors if tensors is not None else lora_tensors(r=r, targets=target_list)
    (directory / "adapter_model.safetensors").write_bytes(safetensors_bytes(weights, dtypes=dtypes))
    return directory


@dataclass(frozen=True)
class PeftCorpus:
    base: Path
    #: another base of the same shapes but another tokenizer (a different model).
    other_base: Path
    good: Path
    broken: Mapping[str, Path]


def build_peft_corpus(root: Path) -> PeftCorpus:
    """The tiny base, a good adapter and one adapter per way of being broken (named as `broken` keys)."""
    base = write_hf_base(root / "bases" / "tiny-llama", name_or_path="acme/tiny-llama")
    other = write_hf_base(root / "bases" / "other-llama", tokens=[f"o{i}" for i in range(32)])
    adapters = root / "adapters"
    good = write_peft_adapter(adapters / "good")

    def at(tag: str) -> Path:
        return adapters / tag

    broken: dict[str, Path] = {}
    truncated = write_peft_adapter(at("truncated"))
    weights = truncated / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    broken["truncated"] = truncated

    wrong = lora_tensors()
    wrong["base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight"] = np.zeros((16, 4), np.float32)
    broken["wrong-shape"] = write_peft_adapter(at("wrong-shape"), tensors=wrong)

    unknown = lora_tensors()
    unknown["base_model.model.model.layers.0.attn.c_attn.lora_A.weight"] = np.zeros((4, 16), np.float32)
    unknown["base_model.model.model.layers.0.attn.c_attn.lora_B.weight"] = np.zeros((48, 4), np.float32)
    broken["unknown-target"] = write_peft_adapter(
        at("unknown-target"), targets=("q_proj", "v_proj", "c_attn"), tensors=unknown
    )
    broken["rank-too-high"] = write_peft_adapter(at("rank-too-high"), r=32)
    broken["wrong-base"] = write_peft_adapter(at("wrong-base"), base_name="acme/other-model-7b")
    broken["bad-peft-type"] = write_peft_adapter(at("bad-peft-type"), config={"peft_type": "PREFIX_TUNING"})
    unparsable = write_peft_adapter(at("unparsable-config"))
    (unparsable / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4,,}')
    broken["unparsable-config"] = unparsable
    ints = {n: np.zeros(a.shape, dtype=np.int8) for n, a in lora_tensors().items()}
    broken["unsupported-dtype"] = write_peft_adapter(at("unsupported-dtype"), tensors=ints)
    broken["layer-beyond"] = write_peft_adapter(at("layer-beyond"), tensors=lora_tensors(layers=(0, 1, 2)))
    return PeftCorpus(base, other, good, broken)
