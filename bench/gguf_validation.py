"""How long GGUF adapter validation takes (issue #3, AD4/AD5): per check, per file, end to end.

    python bench/gguf_validation.py            # tiny model + a Llama-2-7B-shaped base and adapter
    python bench/gguf_validation.py --quick    # tiny model only, fewer rounds
    python bench/gguf_validation.py --json out.json

Measured, each as the median (and max) of several rounds in this process:

* the tiny model's adapters (22 KB) against its base (3.4 MB, 1121 tokens):
  every file check of `validate_adapter`, opening the base included, and
  with the base opened once and reused (how `slipway adapters list` and a
  deploy of several versions use it);
* a Llama-2-7B-shaped pair: a base with 32 layers, n_embd 4096, n_ff 11008
  and a 32 000-token vocabulary (its 13 GB of F16 weights are a sparse hole:
  validation reads the header, metadata and vocabulary, never the weights),
  and a rank-16 LoRA on q/k/v/o of every layer (256 tensors, 32 MB F16);
* `slipway adapters validate` as a subprocess (Python start-up and imports
  included: what an operator waits for);
* `loadable` (llama-server start, one prompt, stop) when the engine is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from slipway.demo.tiny_model import build_tiny_models
from slipway.registry.fingerprint import FINGERPRINT_KEY
from slipway.registry.validate import open_base, validate_adapter

SLIPWAY = str(Path(sys.executable).with_name("slipway"))


def timed(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": statistics.median(samples), "max_ms": max(samples), "rounds": rounds}


def per_check(adapter: Path, base: Path, rounds: int) -> dict[str, float]:
    totals: dict[str, list[float]] = {}
    for _ in range(rounds):
        report = validate_adapter(adapter, base)
        assert report.ok, [str(c.error) for c in report.failures]
        for check in report.checks:
            totals.setdefault(check.name, []).append(check.seconds * 1000)
    return {name: statistics.median(values) for name, values in totals.items()}


# --------------------------------------------------------------------------- a 7B-shaped pair

N_LAYER, N_EMBD, N_FF, N_VOCAB, RANK = 32, 4096, 11008, 32000, 16


def write_large_base(path: Path) -> None:
    """Tensor table of Llama-2-7B (F16) and a 32k vocabulary; the data region is left sparse."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("model")
    writer.add_block_count(N_LAYER)
    writer.add_embedding_length(N_EMBD)
    writer.add_feed_forward_length(N_FF)
    writer.add_string("tokenizer.ggml.model", "llama")
    writer.add_array("tokenizer.ggml.tokens", [f"▁tok{i}" for i in range(N_VOCAB)])
    writer.add_array("tokenizer.ggml.scores", [0.0] * N_VOCAB)
    writer.add_array("tokenizer.ggml.token_type", [1] * N_VOCAB)
    shapes: dict[str, tuple[int, ...]] = {
        "token_embd.weight": (N_VOCAB, N_EMBD),
        "output_norm.weight": (N_EMBD,),
        "output.weight": (N_VOCAB, N_EMBD),
    }
    for i in range(N_LAYER):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            shapes[f"blk.{i}.{t}.weight"] = (N_EMBD, N_EMBD)
        shapes[f"blk.{i}.ffn_gate.weight"] = (N_FF, N_EMBD)
        shapes[f"blk.{i}.ffn_up.weight"] = (N_FF, N_EMBD)
        shapes[f"blk.{i}.ffn_down.weight"] = (N_EMBD, N_FF)
        shapes[f"blk.{i}.attn_norm.weight"] = (N_EMBD,)
        shapes[f"blk.{i}.ffn_norm.weight"] = (N_EMBD,)
    data_bytes = 0
    for name, shape in shapes.items():
        nbytes = int(np.prod(shape)) * 2
        writer.add_tensor_info(name, shape, np.dtype(np.float16), nbytes)
        data_bytes += -(-nbytes // 32) * 32
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    header = -(-path.stat().st_size // 32) * 32  # the data region starts aligned
    with path.open("r+b") as handle:
        handle.truncate(header + data_bytes)  # a hole: no blocks allocated


def write_large_adapter(path: Path, fingerprint: str) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_type("adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(RANK))
    writer.add_string(FINGERPRINT_KEY, fingerprint)
    rng = np.random.default_rng(0)
    for i in range(N_LAYER):
        for t in ("attn_q", "attn_k", "attn_v", "attn_output"):
            name = f"blk.{i}.{t}.weight"
            writer.add_tensor(f"{name}.lora_a", rng.standard_normal((RANK, N_EMBD)).astype(np.float16))
            writer.add_tensor(f"{name}.lora_b", np.zeros((N_EMBD, RANK), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# --------------------------------------------------------------------------- runs


def run(quick: bool) -> dict[str, Any]:
    rounds = 5 if quick else 20
    results: dict[str, Any] = {
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "system": platform.platform(),
        },
        "gguf": gguf.__name__ and _version("gguf"),
    }
    with tempfile.TemporaryDirectory(prefix="slipway-bench-gguf-") as tmp:
        root = Path(tmp)
        tiny = build_tiny_models(root / "models", seed=0)
        opened = open_base(tiny.base)
        _ = opened.fingerprint
        tiny_results: dict[str, Any] = {
            "adapter_bytes": tiny.v2_1.stat().st_size,
            "base_bytes": tiny.base.stat().st_size,
            "validate_v2_1": timed(lambda: validate_adapter(tiny.v2_1, tiny.base), rounds),
            "validate_v2_2": timed(lambda: validate_adapter(tiny.v2_2, tiny.base), rounds),
            "validate_wrong_base": timed(
                lambda: validate_adapter(tiny.wrong_base_adapter, tiny.base), rounds
            ),
            "validate_with_opened_base": timed(lambda: validate_adapter(tiny.v2_1, opened), rounds * 5),
            "open_base_and_fingerprint": timed(lambda: open_base(tiny.base).fingerprint, rounds),
            "per_check_ms": per_check(tiny.v2_1, tiny.base, rounds),
            "cli_validate": timed(
                lambda: subprocess.run(
                    [SLIPWAY, "adapters", "validate", str(tiny.v2_1), "--base", str(tiny.base), "--json"],
                    check=True,
                    capture_output=True,
                ),
                3 if quick else 5,
            ),
        }
        tiny_results["loadable"] = _loadable(tiny.v2_1, tiny.base, 2 if quick else 5)
        results["tiny"] = tiny_results

        if not quick:
            base = root / "large" / "llama-7b-shaped.gguf"
            base.parent.mkdir()
            write_large_base(base)
            large_opened = open_base(base)
            adapter = root / "large" / "v1.0-2026-01-01-50000examples.gguf"
            write_large_adapter(adapter, large_opened.fingerprint)
            results["llama_7b_shaped"] = {
                "base_apparent_bytes": base.stat().st_size,
                "base_bytes_on_disk": base.stat().st_blocks * 512,
                "adapter_bytes": adapter.stat().st_size,
                "adapter_tensors": N_LAYER * 4 * 2,
                "validate": timed(lambda: validate_adapter(adapter, base), 3),
                "validate_with_opened_base": timed(lambda: validate_adapter(adapter, large_opened), 5),
                "open_base_and_fingerprint": timed(lambda: open_base(base).fingerprint, 3),
                "per_check_ms": per_check(adapter, base, 3),
            }
    return results


def _loadable(adapter: Path, base: Path, rounds: int) -> dict[str, Any] | None:
    from slipway.backends.engine import find_llama_server
    from slipway.backends.engine.probe import probe_adapter

    engine = find_llama_server()
    if engine is None:
        return None
    import asyncio

    return timed(lambda: asyncio.run(probe_adapter(base, adapter, "Hello", binary=engine)), rounds)


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def markdown(results: dict[str, Any]) -> str:
    def ms(entry: dict[str, float] | None) -> str:
        if entry is None:
            return "n/a (no engine)"
        return f"{entry['median_ms']:.1f} ms (max {entry['max_ms']:.1f})"

    tiny = results["tiny"]
    lines = [
        "| what | median (max) |",
        "|---|---|",
        f"| tiny: validate v2.1 against the base (opens the 3.4 MB base) | {ms(tiny['validate_v2_1'])} |",
        f"| tiny: validate v2.2 | {ms(tiny['validate_v2_2'])} |",
        "| tiny: validate the wrong-base adapter (fails on the fingerprint) | "
        f"{ms(tiny['validate_wrong_base'])} |",
        f"| tiny: validate with the base already open | {ms(tiny['validate_with_opened_base'])} |",
        f"| tiny: open the base + fingerprint | {ms(tiny['open_base_and_fingerprint'])} |",
        f"| tiny: `slipway adapters validate` subprocess | {ms(tiny['cli_validate'])} |",
        f"| tiny: `loadable` (start llama-server, one prompt, stop) | {ms(tiny['loadable'])} |",
    ]
    large = results.get("llama_7b_shaped")
    if large:
        lines += [
            f"| 7B-shaped: validate a 256-tensor rank-16 adapter ({large['adapter_bytes'] / 2**20:.0f} MiB) "
            f"against a 32k-vocab base | {ms(large['validate'])} |",
            f"| 7B-shaped: same, base already open | {ms(large['validate_with_opened_base'])} |",
            f"| 7B-shaped: open the base + fingerprint | {ms(large['open_base_and_fingerprint'])} |",
        ]
    lines.append("")
    lines.append("Per check, median ms (tiny" + (" / 7B-shaped" if large else "") + "):")
    lines.append("")
    for name, value in tiny["per_check_ms"].items():
        extra = f" / {large['per_check_ms'][name]:.2f}" if large else ""
        lines.append(f"- `{name}`: {value:.2f}{extra}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny model only, fewer rounds")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    results = run(args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
