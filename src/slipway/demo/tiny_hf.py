"""The tiny Hugging Face classifier for vLLM: its training data, and building it once per machine.

vLLM serves Hugging Face checkpoints and PEFT adapters, not GGUF, so the
vLLM tests and demo get their own tiny model: the same support-ticket story
as the GGUF one (`tiny_model`), the same tickets and labels, trained by
`tiny_hf_model.py` under the vLLM venv's python (torch lives there).

The result is cached under the user cache directory, keyed by a hash of the
builder file and the data: changing either builds again, anything else is a
cache hit costing one file read. A lock keeps two processes from building
at once, and `report.json` is written last by the builder, so a half build is
never a hit.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from slipway.demo.tickets import PROMPT_TEMPLATE, Ticket, generate, held_out_tickets
from slipway.demo.tiny_model import V2_1, V2_2, training_sets

BUILDER = Path(__file__).with_name("tiny_hf_model.py")
BASE_EXAMPLES = 1500
EVAL_EXAMPLES = 200
#: What the base answers to the intent prompt: it is not tuned for it.
BASE_ANSWER = "unknown"
TOPIC_PROMPT = PROMPT_TEMPLATE.replace("intent:", "topic:")
BUILD_TIMEOUT_S = 1800.0


class TinyHfBuildError(RuntimeError):
    """The builder failed; the message carries its output and the fix."""


@dataclass(frozen=True)
class TinyHfModel:
    """Where the built base and adapters are, and how accurate the builder measured them."""

    root: Path
    base: Path
    v2_1: Path
    v2_2: Path
    report: dict[str, Any]

    def adapter(self, version: str) -> Path:
        return self.root / version


def _rows(split: str, tickets: list[Ticket], *, template: str = PROMPT_TEMPLATE) -> list[dict[str, str]]:
    return [{"split": split, "prompt": template.format(text=t.text), "label": t.intent} for t in tickets]


def training_data(seed: int = 0) -> str:
    """The builder's input as JSON lines: base, the two adapters' sets (v2.2's bug included) and eval."""
    base = generate(BASE_EXAMPLES, f"hf-base:{seed}")
    sets = training_sets(seed)
    rows = [
        *_rows("base", base, template=TOPIC_PROMPT),
        *({**row, "label": BASE_ANSWER} for row in _rows("base", base)),
        *_rows(V2_1.version, sets[V2_1.version]),
        *_rows(V2_2.version, sets[V2_2.version]),
        *_rows("eval", held_out_tickets(EVAL_EXAMPLES, seed)),
    ]
    return "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)


def cache_key(data: str) -> str:
    digest = hashlib.sha256(BUILDER.read_bytes())
    digest.update(b"\0")
    digest.update(data.encode())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    return Path(platformdirs.user_cache_dir("slipway")) / "tiny-hf"


def _loaded(root: Path) -> TinyHfModel | None:
    try:
        report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    model = TinyHfModel(root, root / "base", root / V2_1.version, root / V2_2.version, report)
    needed = (
        model.base / "config.json",
        model.v2_1 / "adapter_config.json",
        model.v2_2 / "adapter_config.json",
    )
    return model if all(p.is_file() for p in needed) else None


def build_tiny_hf_model(python: Path, *, seed: int = 0, log: Path | None = None) -> TinyHfModel:
    """Build (or find cached) the tiny model with `python`, the vLLM venv's interpreter."""
    data = training_data(seed)
    root = cache_root() / cache_key(data)
    hit = _loaded(root)
    if hit is not None:
        return hit
    root.parent.mkdir(parents=True, exist_ok=True)
    with _lock(root.parent / ".build.lock"):
        hit = _loaded(root)
        if hit is not None:
            return hit
        # Built in place (adapters record the base's absolute path); without report.json it is no hit.
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        data_path = root / "train.jsonl"
        data_path.write_text(data, encoding="utf-8")
        log_path = log or root / "build.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        try:
            done = subprocess.run(
                [str(python), str(BUILDER), "--data", str(data_path), str(root)],
                capture_output=True,
                text=True,
                env=env,
                timeout=BUILD_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TinyHfBuildError(
                f"the tiny model builder could not run with {python}: {exc}; "
                "install vLLM with `slipway engine install vllm`"
            ) from exc
        log_path.write_text(done.stdout + done.stderr, encoding="utf-8")
        built = _loaded(root)
        if done.returncode != 0 or built is None:
            raise TinyHfBuildError(
                f"the tiny model builder failed (exit {done.returncode}); log: {log_path}\n"
                f"{(done.stdout + done.stderr)[-2000:]}\n"
                "If torch, transformers or peft is missing, run `slipway engine install vllm --force`."
            )
        return built


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
