"""The README's first command, as a user runs it: `scripts/demo` on real llama.cpp.

It must tell the whole story — smoke test passes, v2.2 goes live, billing
falls, slipway rolls back — with zero failed requests and a rollback well
under a second, and leave its state behind for `slipway serve` to pick up.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.llama

REPO = Path(__file__).parents[3]


def test_scripts_demo_ships_v2_2_catches_billing_and_rolls_back(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "160", "NO_COLOR": "1"}
    out = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--workdir", str(tmp_path / "demo"), "--requests", "200"],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "smoke test passed (12 prompts)" in text
    assert re.search(r"post-switch evaluation: billing regressed, accuracy 0\.9\d → 0\.[0-8]\d", text), text
    found = re.search(r"rollback: API call ([\d.]+) ms, first request on v2\.1 ([\d.]+) ms", text)
    assert found, text
    assert float(found.group(1)) < 1000 and float(found.group(2)) < 1000
    assert "failed requests: 0" in text
    assert (tmp_path / "demo" / ".slipway" / "slipway.db").exists()
    assert (tmp_path / "demo" / "slipway.yaml").exists()
