"""`scripts/demo` installs slipway alone, not the dev extras (playwright, mypy, ruff): run for real
in a copy of the repository whose pip, apt and slipway only record what they were asked."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).parents[3]
RECORD = '#!/usr/bin/env bash\necho "$(basename "$0") $*" >> "$(dirname "$0")/{log}"\n'


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    (root / ".venv" / "bin").mkdir(parents=True)
    for name in ("demo", "bootstrap"):
        shutil.copy2(REPO / "scripts" / name, root / "scripts" / name)
    stubs = {
        root / "scripts" / "debian-packages": "../calls.log",
        root / ".venv" / "bin" / "python": "../../calls.log",
        root / ".venv" / "bin" / "slipway": "../../calls.log",
    }
    for path, log in stubs.items():
        path.write_text(RECORD.format(log=log))
        path.chmod(0o755)
    (root / "pyproject.toml").write_text("[project]\nname = 'slipway'\n")
    return root


def _run(root: Path, *args: str) -> list[str]:
    log = root / "calls.log"
    log.unlink(missing_ok=True)
    out = subprocess.run(
        [str(root / "scripts" / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHON": "false"},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return log.read_text().splitlines() if log.exists() else []


def test_scripts_demo_installs_slipway_without_the_dev_extras(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    calls = _run(root, "demo", "--strategy", "bluegreen")
    assert calls == [
        "debian-packages base engine",
        "python -m pip install --quiet -e .",
        "slipway demo --strategy bluegreen",
    ]
    # Installed once: the next run goes straight to the demo.
    assert _run(root, "demo") == ["debian-packages base engine", "slipway demo"]


def test_bootstrap_still_installs_dev_by_default_and_a_dev_install_serves_the_demo(tmp_path: Path) -> None:
    root = _repo(tmp_path)
    assert _run(root, "bootstrap") == ["python -m pip install --quiet -e .[dev]"]
    assert _run(root, "bootstrap", "") == []
    # pyproject.toml changed since: slipway alone is installed again.
    later = time.time() + 5
    os.utime(root / "pyproject.toml", (later, later))
    assert _run(root, "bootstrap", "") == ["python -m pip install --quiet -e ."]
