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
    from slipway.analysis.categories import compare_categories, score_by_category

    base = score_by_category([("billing", i < 97) for i in range(100)])
    cand = score_by_category([("billing", i < 70) for i in range(100)])
    assert compare_categories(base, cand)[0].regressed
