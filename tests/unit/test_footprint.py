"""What `slipway serve` loads before any rollout runs: the gateway's memory budget (≤ 150 MiB)."""

from __future__ import annotations

import subprocess
import sys


def test_the_server_does_not_load_scipy_until_an_analysis_runs() -> None:
    code = (
        "import sys, slipway.app, slipway.cli.main\n"
        "print(sorted(m for m in ('scipy', 'matplotlib', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_an_analysis_still_finds_scipy_when_it_needs_it() -> None:
    from slipway.analysis.stats import mixture_log_e

    assert mixture_log_e(3.0, 100.0, 1.0) > 0 > mixture_log_e(1.0, 100.0, 1.0)  # strong evidence, weak
