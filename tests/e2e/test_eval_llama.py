"""An evaluation suite on real llama.cpp: v2.2's refund flaw fails its billing gate before any user sees it.

The tiny GGUF base with adapters v2.1 (production) and v2.2 (retrained on
tickets that filed refunds under shipping), served by llama-server started
from the `engines:` section; the suite is 200 held-out tickets, 50 per
intent, 15 of the billing ones refunds. Run through `slipway eval` from the
CLI, paired against production: billing must fail, by about the refunds'
share of billing, and nothing else may.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from tests.harness import live_gateway, tiny_engine_yaml
from tests.processes import run_cli

from slipway.demo.tickets import generate
from slipway.demo.tiny_model import TinyModelPaths

pytestmark = pytest.mark.llama


def suite_file(path: Path) -> Path:
    tickets = generate(200, "eval-llama")
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": f"t-{i}",
                    "completion": t.prompt,
                    "expect": {"label": t.intent},
                    "category": t.intent,
                    "max_tokens": 4,
                }
            )
            + "\n"
            for i, t in enumerate(tickets)
        )
    )
    return path


def test_the_suite_fails_v2_2_on_billing_alone_and_passes_v2_1_against_it(
    tmp_path: Path, models: TinyModelPaths
) -> None:
    with live_gateway(tmp_path, tiny_engine_yaml(models, green="v2.2")) as gw:
        added = run_cli(gw.url, ["eval", "add", "tickets", str(suite_file(tmp_path / "tickets.jsonl"))])
        assert added.returncode == 0, added.stderr

        out = run_cli(gw.url, ["eval", "run", "tickets", "--slot", "green", "--against", "blue", "--json"])
        reverse = run_cli(gw.url, ["eval", "run", "tickets", "--slot", "blue", "--against", "green"])

    assert out.returncode == 1, out.stdout + out.stderr
    run = json.loads(out.stdout)["runs"][0]
    categories = run["result"]["categories"]
    flagged = {name for name, row in categories.items() if row["significant"]}
    assert "billing" in flagged and flagged <= {"billing"}, run["result"]["text"]
    billing = categories["billing"]
    assert billing["n"] == 50 and billing["regressions"] >= 10 and billing["worse_by_points"] >= 20, billing
    # The tiny model's other answers differ here and there too; billing's stand out.
    regressed = Counter(
        c["category"] for c in run["result"]["cases"] if c["baseline_passed"] and not c["candidate_passed"]
    )
    assert regressed.most_common(1)[0][0] == "billing", regressed
    assert reverse.returncode == 0, reverse.stdout + reverse.stderr
