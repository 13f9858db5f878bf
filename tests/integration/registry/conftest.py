"""The tiny real model (built once per session) and damaged or mismatched copies of its adapters."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.gguf_files import corrupt_header, rewrite, tensor_arrays, truncate

from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    return build_tiny_models(tmp_path_factory.mktemp("tiny") / "models", seed=0)


@pytest.fixture(scope="session")
def variants(tiny: TinyModelPaths, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each a copy of v2.1 with one thing wrong (file names keep the registry convention)."""
    out = tmp_path_factory.mktemp("variants")
    arrays = tensor_arrays(tiny.v2_1)
    a, b = arrays["output.weight.lora_a"], arrays["output.weight.lora_b"]  # (4, 256), (1121, 4)
    n_vocab, n_embd = b.shape[0], a.shape[1]

    def name(tag: str) -> Path:
        (out / tag).mkdir()
        return out / tag / "v9.1-2026-03-01-100examples.gguf"

    built = {
        "corrupt-magic": corrupt_header(tiny.v2_1, name("corrupt-magic"), seed=1, start=0, end=4),
        "corrupt-counts": corrupt_header(tiny.v2_1, name("corrupt-counts"), seed=2, start=8, end=24),
        "corrupt-header": corrupt_header(tiny.v2_1, name("corrupt-header"), seed=3, start=24, end=120),
        "truncated-half": truncate(tiny.v2_1, name("truncated-half"), keep=0.5),
        "truncated-tail": truncate(tiny.v2_1, name("truncated-tail"), keep=tiny.v2_1.stat().st_size - 100),
        "wrong-arch": rewrite(tiny.v2_1, name("wrong-arch"), arch="qwen2"),
        "wrong-n-out": rewrite(
            tiny.v2_1,
            name("wrong-n-out"),
            tensors={"output.weight.lora_a": a, "output.weight.lora_b": b[:-1]},
        ),
        "wrong-rank": rewrite(
            tiny.v2_1,
            name("wrong-rank"),
            tensors={"output.weight.lora_a": a, "output.weight.lora_b": b[:, :3]},
        ),
        "transposed": rewrite(
            tiny.v2_1,
            name("transposed"),
            tensors={"output.weight.lora_a": a.T.copy(), "output.weight.lora_b": b.T.copy()},
        ),
        "token-embd": rewrite(
            tiny.v2_1,
            name("token-embd"),
            tensors={
                **arrays,
                "token_embd.weight.lora_a": np.zeros((n_vocab, 4), dtype=np.float32),
                "token_embd.weight.lora_b": np.zeros((n_embd, 4), dtype=np.float32),
            },
        ),
        "token-embd-unflipped": rewrite(
            tiny.v2_1,
            name("token-embd-unflipped"),
            tensors={
                **arrays,
                "token_embd.weight.lora_a": np.zeros((4, n_embd), dtype=np.float32),
                "token_embd.weight.lora_b": np.zeros((n_vocab, 4), dtype=np.float32),
            },
        ),
        "no-fingerprint": rewrite(tiny.v2_1, name("no-fingerprint"), drop={"slipway.base_fingerprint"}),
        "not-lora": rewrite(tiny.v2_1, name("not-lora"), set_strings={"adapter.type": "control_vector"}),
    }
    return built


@pytest.fixture
def registry(tiny: TinyModelPaths, tmp_path: Path) -> Path:
    """A fresh registry root holding both bases and no adapters yet."""
    root = tmp_path / "models"
    for base in (tiny.base, tiny.other_base):
        model = base.parent.parent.name
        (root / model / "base").mkdir(parents=True)
        shutil.copy2(base, root / model / "base" / base.name)
    return root
