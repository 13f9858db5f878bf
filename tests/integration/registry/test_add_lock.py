"""`slipway adapters add` never follows a symbolic link planted where its lock file goes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from slipway.cli.main import app
from slipway.demo.tiny_model import TinyModelPaths
from slipway.registry.storage import LOCK_NAME

MODEL = "customer-support"


def test_a_symlinked_lock_file_is_refused_and_nothing_is_created_at_its_target(
    tiny: TinyModelPaths, registry: Path, tmp_path: Path
) -> None:
    adapters = registry / MODEL / "adapters"
    adapters.mkdir(parents=True)
    target = tmp_path / "elsewhere" / "victim.txt"
    target.parent.mkdir()
    (adapters / LOCK_NAME).symlink_to(target)

    runner = CliRunner(env={"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "200"})
    result = runner.invoke(app, ["adapters", "add", str(tiny.v2_1), "--model", MODEL])

    assert result.exit_code != 0, result.stdout
    assert not target.exists(), "the lock was opened through the link: a file appeared at its target"
    said = " ".join((result.stdout + result.stderr).split())
    assert "symbolic link" in said and "rm " in said, said
    assert not list(adapters.glob("v2.1*.gguf")), "nothing may be added while the lock is refused"


def test_a_symlink_to_an_existing_file_leaves_that_file_as_it_was(
    tiny: TinyModelPaths, registry: Path, tmp_path: Path
) -> None:
    adapters = registry / MODEL / "adapters"
    adapters.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    (adapters / LOCK_NAME).symlink_to(victim)

    runner = CliRunner(env={"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "200"})
    result = runner.invoke(app, ["adapters", "add", str(tiny.v2_1), "--model", MODEL])

    assert result.exit_code != 0
    assert victim.read_text() == "keep me\n"


def test_a_plain_lock_file_still_works(tiny: TinyModelPaths, registry: Path) -> None:
    adapters = registry / MODEL / "adapters"
    adapters.mkdir(parents=True)
    (adapters / LOCK_NAME).write_text("")
    runner = CliRunner(env={"SLIPWAY_MODELS_DIR": str(registry), "COLUMNS": "200"})
    result = runner.invoke(app, ["adapters", "add", str(tiny.v2_1), "--model", MODEL])
    assert result.exit_code == 0, result.stdout + result.stderr
