"""`slipway engine install` / `which` as an operator runs them (the build itself is cached)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.processes import run_cli

from slipway.backends.engine import find_llama_server, install_llama_server

pytestmark = pytest.mark.llama


def test_install_is_instant_when_cached_and_which_finds_the_same_binary(tmp_path: Path) -> None:
    expected = find_llama_server() or install_llama_server()
    installed = run_cli(None, ["engine", "install"], cwd=tmp_path, timeout=1800)
    assert installed.returncode == 0, installed.stderr
    which = run_cli(None, ["engine", "which"], cwd=tmp_path)
    assert which.returncode == 0 and Path(which.stdout.strip()) == expected


def test_which_names_a_wrong_override_and_how_to_fix_it(tmp_path: Path) -> None:
    out = run_cli(
        None, ["engine", "which"], cwd=tmp_path, env={"SLIPWAY_LLAMA_SERVER": str(tmp_path / "nope")}
    )
    assert out.returncode == 1
    assert "SLIPWAY_LLAMA_SERVER" in out.stderr
