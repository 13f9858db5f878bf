"""The README's first command, as a user runs it: `scripts/demo` on real llama.cpp.

It must tell the whole story — the smoke test passes, v2.2 takes traffic,
billing falls, slipway rolls back — with zero failed requests, and leave its
state behind for `slipway serve` to pick up. The default path is the seed's
canary (unattended, on a sped-up clock); `--strategy bluegreen` is the
switch-then-evaluate path.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.llama

REPO = Path(__file__).parents[3]


def run_demo(workdir: Path, *args: str) -> str:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    out = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--workdir", str(workdir), "--requests", "200", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    assert (workdir / ".slipway" / "slipway.db").exists()
    assert (workdir / "slipway.yaml").exists()
    assert "failed requests: 0" in out.stdout
    return out.stdout


def test_scripts_demo_canaries_v2_2_and_the_canary_rolls_itself_back(tmp_path: Path) -> None:
    text = run_demo(tmp_path / "demo")
    assert "smoke test passed (12 prompts); plan 5%:2h,25%:4h,100%" in text
    assert "slipway rolled the canary back by itself: rollback (DF1)" in text
    found = re.search(r"blast radius: the candidate served ([\d.]+) % of all traffic \((\d+) of", text)
    assert found, text
    # Caught at 5 % on a quiet machine; a busy one may reach the 25 % phase first.
    assert float(found.group(1)) < 30 and int(found.group(2)) < 1000
    assert re.search(r"\d+(\.\d+)? % of billing", text), text


def test_scripts_demo_bluegreen_catches_billing_after_the_switch_and_rolls_back(tmp_path: Path) -> None:
    text = run_demo(tmp_path / "demo", "--strategy", "bluegreen")
    assert "smoke test passed (12 prompts); traffic switched to green" in text
    caught = r"post-switch evaluation: billing regressed, accuracy 0\.[89]\d → 0\.[0-8]\d"
    assert re.search(caught, text), text
    found = re.search(r"rollback: API call ([\d.]+) ms, first request on v2\.1 ([\d.]+) ms", text)
    assert found, text
    assert float(found.group(1)) < 1000 and float(found.group(2)) < 1000
