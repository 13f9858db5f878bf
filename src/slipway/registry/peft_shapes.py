"""Do a PEFT adapter's LoRA weights fit the base? Module names and shapes, from config.json alone.

vLLM maps each tensor name to a module of the running model and copies the
weights into buffers sized by the base; a name it does not know, or a shape
that does not fit, fails the load (or, for a wrong layer count, silently
misapplies). The rules here are PEFT's layout, checked against the base's
config (checks `target-modules` and `lora-shapes`):

* names: `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`, and
  for embeddings `<module>.lora_embedding_A` / `.lora_embedding_B`;
* linear layers: lora_A (r, in_features), lora_B (out_features, r);
  embeddings: lora_embedding_A (r, vocab_size), lora_embedding_B (hidden_size, r);
* r is the module's rank: `rank_pattern`'s match, else `r`;
* `layers.<i>` within num_hidden_layers.

The module sizes are known for the llama family (llama, mistral, qwen2
share the projection names and their sizes). Another architecture is
reported as not checked, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from slipway.core.errors import AdapterInvalid, AdapterMismatchError, FileCheckError
from slipway.registry.check_runner import CheckUnavailable
from slipway.registry.hf_base import HFBase
from slipway.registry.peft_config import PeftConfig
from slipway.registry.safetensors_header import SafetensorsHeader

PREFIX = "base_model.model."
_MAX_LISTED = 3
_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.")
_NAME_RE = re.compile(r"^(?P<module>.+)\.(?:lora_(?P<ab>[AB])\.weight|lora_embedding_(?P<eab>[AB]))$")

#: model_type values whose module names and sizes `module_sizes` knows.
LLAMA_FAMILY = ("llama", "mistral", "qwen2")


class UnknownArchitecture(CheckUnavailable):
    """The base's model_type is not one whose module sizes slipway knows; the check cannot run."""

    def __init__(self, model_type: str) -> None:
        self.model_type = model_type
        super().__init__(
            f"slipway does not know the module names of model_type {model_type!r} "
            f"(it knows {', '.join(LLAMA_FAMILY)}), so this was not checked; vLLM will check it at load time"
        )


@dataclass(frozen=True)
class LoraTensor:
    name: str
    #: the module's path inside the base, e.g. model.layers.3.self_attn.q_proj.
    module: str
    part: str  # "A" or "B"
    embedding: bool

    @property
    def kind(self) -> str:
        return self.module.rsplit(".", 1)[-1]

    @property
    def layer(self) -> int | None:
        match = _LAYER_RE.search(self.module)
        return int(match.group(1)) if match else None


def module_sizes(base: HFBase) -> Mapping[str, tuple[int, int]]:
    """(in_features, out_features) of every LoRA-able module; embeddings as (vocab, hidden)."""
    if base.model_type not in LLAMA_FAMILY:
        raise UnknownArchitecture(base.model_type)
    hidden, inter = base.hidden_size, base.intermediate_size
    q_out = base.num_attention_heads * base.head_dim
    kv_out = base.num_key_value_heads * base.head_dim
    return {
        "q_proj": (hidden, q_out),
        "k_proj": (hidden, kv_out),
        "v_proj": (hidden, kv_out),
        "o_proj": (q_out, hidden),
        "gate_proj": (hidden, inter),
        "up_proj": (hidden, inter),
        "down_proj": (inter, hidden),
        "embed_tokens": (base.vocab_size, hidden),
        "lm_head": (hidden, base.vocab_size),
    }


def parse_lora_tensor(name: str) -> LoraTensor | None:
    """The LoRA weight a tensor name is, or None when it is not one."""
    match = _NAME_RE.match(name.removeprefix(PREFIX))
    if match is None:
        return None
    embedding = match.group("eab") is not None
    return LoraTensor(name, match.group("module"), match.group("eab") or match.group("ab"), embedding)


def check_target_modules(config: PeftConfig, header: SafetensorsHeader, base: HFBase) -> str:
    """Every module the config targets and every module a tensor names exists in the base's architecture."""
    known = module_sizes(base)
    wanted: dict[str, str] = {}
    for target in config.target_modules or ():
        wanted.setdefault(target.rsplit(".", 1)[-1], f"target_modules entry {target!r}")
    for name in header.tensors:
        parsed = parse_lora_tensor(name)
        if parsed is not None:
            wanted.setdefault(parsed.kind, f"tensor {name!r}")
    unknown = {kind: where for kind, where in wanted.items() if kind not in known}
    if unknown:
        listed = "; ".join(f"{kind!r} ({where})" for kind, where in sorted(unknown.items())[:_MAX_LISTED])
        raise AdapterMismatchError(
            f"{len(unknown)} target module(s) do not exist in {base.model_type} models: {listed}",
            path=str(config.path),
            check="target-modules",
            found=", ".join(sorted(unknown)),
            expected=f"modules of {base.model_type}: {', '.join(known)}",
            hint="The adapter was trained for another architecture: use the base it was trained for, "
            "or retrain with target_modules naming this base's modules.",
        )
    if not wanted:
        return "target_modules is a pattern and no LoRA tensors name a module"
    return f"{', '.join(sorted(wanted))} exist in {base.model_type}"


def check_lora_shapes(config: PeftConfig, header: SafetensorsHeader, base: HFBase) -> str:
    """A summary when every weight fits; else the first problem's typed error, all of them counted."""
    sizes = module_sizes(base)
    problems: list[tuple[type[FileCheckError], str, str, str]] = []
    pairs: dict[str, set[str]] = {}
    for name, info in sorted(header.tensors.items()):
        tensor = parse_lora_tensor(name)
        if tensor is None:
            problems.append(
                (
                    AdapterInvalid,
                    f"{name!r} is not a LoRA weight",
                    repr(name),
                    "<module>.lora_A.weight / .lora_B.weight",
                )
            )
            continue
        pairs.setdefault(tensor.module, set()).add(tensor.part)
        layer = tensor.layer
        if layer is not None and layer >= base.num_hidden_layers:
            problems.append(
                (
                    AdapterMismatchError,
                    f"{name!r} is for layer {layer}, but the base has {base.num_hidden_layers} layers",
                    f"layer {layer}",
                    f"layers 0 to {base.num_hidden_layers - 1}",
                )
            )
            continue
        if tensor.kind not in sizes:
            continue  # reported by `target-modules`
        rank = config.rank_for(tensor.module)
        n_in, n_out = sizes[tensor.kind]
        # Embeddings too: sizes hold (vocab, hidden) for them, so A is (r, vocab) and B (hidden, r).
        want = (rank, n_in) if tensor.part == "A" else (n_out, rank)
        if info.shape != want:
            problems.append(
                (
                    AdapterMismatchError,
                    f"{name!r} has shape {list(info.shape)}, the base and rank {rank} need {list(want)}",
                    f"{name}: {list(info.shape)}",
                    f"{list(want)} (rank {rank}; {tensor.kind} is {n_in} -> {n_out} in the base)",
                )
            )
    for module, parts in sorted(pairs.items()):
        if parts != {"A", "B"}:
            have = next(iter(parts))
            problems.append(
                (
                    AdapterInvalid,
                    f"{module}: lora_{'B' if have == 'A' else 'A'} is missing",
                    f"only lora_{have}",
                    "lora_A and lora_B",
                )
            )
    if not pairs and not problems:
        raise AdapterInvalid(
            "the adapter holds no LoRA weights",
            path=str(header.path),
            check="lora-shapes",
            found="no *.lora_A.weight / *.lora_B.weight tensors",
            expected="at least one pair",
            hint="Save the adapter again with PEFT's save_pretrained after training.",
        )
    if problems:
        cls, _text, found, expected = problems[0]
        listed = "; ".join(p[1] for p in problems[:_MAX_LISTED])
        more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise cls(
            f"{len(problems)} LoRA weight problem(s) against {base.path.name}: {listed}{more}",
            path=str(header.path),
            check="lora-shapes",
            found=found,
            expected=expected,
            hint="The adapter was trained for a base of another size or depth: use the base it was trained "
            "for, or retrain it on this one.",
        )
    return f"{len(pairs)} LoRA module(s) fit the base, rank {config.r}" + (
        f" (rank_pattern: {len(config.rank_pattern)} override(s))" if config.rank_pattern else ""
    )


def check_max_rank(config: PeftConfig, max_lora_rank: int) -> str:
    """vLLM refuses an adapter whose rank exceeds --max-lora-rank; say so before asking it."""
    if config.max_rank > max_lora_rank:
        where = "r" if config.r == config.max_rank else "rank_pattern"
        raise AdapterInvalid(
            f"the adapter's rank ({where}) is above the engine's max LoRA rank",
            path=str(config.path),
            check="max-rank",
            found=f"rank {config.max_rank}",
            expected=f"at most {max_lora_rank}",
            hint=f"Start vLLM with --max-lora-rank of at least {config.max_rank} (and pass the same "
            "--max-rank here), or retrain the adapter with a smaller r.",
        )
    return f"rank {config.max_rank} <= {max_lora_rank}"
