"""Do an adapter's LoRA pairs fit the base? llama.cpp's own rules, with messages (check `tensor-shapes`).

LoRA tensors come in `<target>.lora_a` / `<target>.lora_b` pairs;
`*_norm.weight` tensors are ignored (llama.cpp skips them too), anything
else is refused. The target must exist in the base. In ggml order (ne, row
length first) llama.cpp's `llama_adapter_lora_init` requires
`a = [n_in, r]`, `b = [r, n_out]` against a base `[n_in, n_out]` — in numpy
order lora_a (r, n_in), lora_b (n_out, r), base (n_out, n_in), which is what
convert_lora_to_gguf.py writes. `token_embd.weight` is the exception: A and
B are flipped (`llm_build_inp_embd`), numpy lora_a (n_vocab, r), lora_b
(n_embd, r). Only the first two dimensions are compared, as llama.cpp does.
The tests start llama-server on crafted adapters to keep these rules and
llama.cpp's in agreement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from slipway.core.errors import AdapterInvalid, AdapterMismatchError, FileCheckError
from slipway.registry.reader import GGUFFile, TensorInfo

#: How many individual tensor problems a message lists before "and N more".
_MAX_LISTED = 3


@dataclass
class _Problem:
    cls: type[FileCheckError]
    text: str
    found: str
    expected: str


@dataclass
class _Pair:
    a: TensorInfo | None = None
    b: TensorInfo | None = None


def _dim(ne: tuple[int, ...], i: int) -> int:
    return ne[i] if i < len(ne) else 1


def _np(ne: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(d) for d in reversed(ne)) + ")"


def check_lora_shapes(adapter: GGUFFile, base_tensors: Mapping[str, TensorInfo], base_name: str) -> str:
    """A summary of the pairs when every one fits; else the first problem's typed error (all counted)."""
    pairs: dict[str, _Pair] = {}
    problems: list[_Problem] = []
    for name, info in adapter.tensors.items():
        if name.endswith(".lora_a"):
            pairs.setdefault(name.removesuffix(".lora_a"), _Pair()).a = info
        elif name.endswith(".lora_b"):
            pairs.setdefault(name.removesuffix(".lora_b"), _Pair()).b = info
        elif name.endswith("_norm.weight"):
            continue  # llama.cpp ignores these too
        else:
            problems.append(
                _Problem(
                    AdapterInvalid,
                    f"tensor {name!r} is neither a .lora_a nor a .lora_b",
                    repr(name),
                    "<target>.lora_a / <target>.lora_b",
                )
            )
    if not pairs and not problems:
        raise AdapterInvalid(
            "the adapter holds no LoRA tensors",
            path=str(adapter.path),
            check="tensor-shapes",
            found="no <target>.lora_a / .lora_b tensors",
            expected="at least one pair",
            hint="The conversion produced an empty adapter: re-run convert_lora_to_gguf.py.",
        )
    for target, pair in sorted(pairs.items()):
        problems.extend(_check_pair(target, pair, base_tensors))
    if problems:
        first = problems[0]
        listed = "; ".join(p.text for p in problems[:_MAX_LISTED])
        more = f" (and {len(problems) - _MAX_LISTED} more)" if len(problems) > _MAX_LISTED else ""
        raise first.cls(
            f"{len(problems)} LoRA tensor problem(s) against {base_name}: {listed}{more}",
            path=str(adapter.path),
            check="tensor-shapes",
            found=first.found,
            expected=first.expected,
            hint="The adapter was trained for a base of another size or layout: use the base it "
            "was trained for, or retrain/re-convert it against this one.",
        )
    ranks = sorted(
        {_dim(p.a.ne, 0 if t.endswith("token_embd.weight") else 1) for t, p in pairs.items() if p.a}
    )
    return f"{len(pairs)} LoRA pair(s) fit the base, rank {', '.join(str(r) for r in ranks)}"


def _check_pair(target: str, pair: _Pair, base_tensors: Mapping[str, TensorInfo]) -> list[_Problem]:
    if pair.a is None or pair.b is None:
        missing = "lora_a" if pair.a is None else "lora_b"
        return [
            _Problem(
                AdapterInvalid,
                f"{target}: {missing} is missing",
                f"only {target}.{'lora_b' if pair.a is None else 'lora_a'}",
                f"{target}.lora_a and {target}.lora_b",
            )
        ]
    model_tensor = base_tensors.get(target)
    if model_tensor is None:
        return [
            _Problem(
                AdapterMismatchError,
                f"{target}: the base has no such tensor",
                f"LoRA for {target!r}",
                "targets that exist in the base",
            )
        ]
    a, b, m = pair.a.ne, pair.b.ne, model_tensor.ne
    # For the message only: the rank is lora_a's smaller side, whichever way round it was written.
    rank = min(_dim(a, 0), _dim(a, 1))
    if target.endswith("token_embd.weight"):
        # A and B flipped (llm_build_inp_embd): numpy a (n_vocab, r), b (n_embd, r).
        ok = _dim(m, 0) == _dim(b, 1) and _dim(m, 1) == _dim(a, 1) and _dim(a, 0) == _dim(b, 0)
        want_a, want_b = f"({_dim(m, 1)}, {rank})", f"({_dim(m, 0)}, {rank})"
    else:
        # numpy a (r, n_in), b (n_out, r); ggml ne a [n_in, r], b [r, n_out], base [n_in, n_out].
        ok = _dim(m, 0) == _dim(a, 0) and _dim(m, 1) == _dim(b, 1) and _dim(a, 1) == _dim(b, 0)
        want_a, want_b = f"({rank}, {_dim(m, 0)})", f"({_dim(m, 1)}, {rank})"
    if ok:
        return []
    return [
        _Problem(
            AdapterMismatchError,
            f"{target}: lora_a {_np(a)} and lora_b {_np(b)} do not fit the base tensor {_np(m)}",
            f"{target}: lora_a {_np(a)}, lora_b {_np(b)}",
            f"lora_a {want_a}, lora_b {want_b} for base {_np(m)} (numpy order)",
        )
    ]
