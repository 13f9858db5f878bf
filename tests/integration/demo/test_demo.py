"""The README's first command, as a user runs it: `scripts/demo` on real llama.cpp.

It must tell the whole story — the smoke test passes, v2.2 takes traffic,
billing falls, slipway rolls back, then learns from it: its postmortem,
v2.2's wrong answers as must-pass cases, a v2.3 with the same flaw refused
by the checklist before any user request reaches it, a retrained v2.3 that
passes and serves — with zero failed requests, and leave its state behind
for `slipway serve` to pick up. The default path is the seed's
canary (unattended, on a sped-up clock); `--strategy bluegreen` switches
after the smoke test and slipway's bake, not the demo, rolls it back.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from tests.processes import free_port, stop, wait_healthy

# A whole demo on a busy 2-core machine may take minutes (on a quiet one, well under one): the
# suite's per-test limit of 300 s is for tests that hang, and would cut this one short.
pytestmark = [pytest.mark.llama, pytest.mark.timeout(1800)]

REPO = Path(__file__).parents[3]


def run_demo(workdir: Path, *args: str) -> str:
    # Piped, as in a CI log: no COLUMNS, no terminal.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"NO_COLOR": "1"}
    out = subprocess.run(
        [str(REPO / "scripts" / "demo"), "--workdir", str(workdir), "--requests", "200", *args],
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert (workdir / ".slipway" / "slipway.db").exists()
    assert (workdir / "slipway.yaml").exists()
    assert "failed requests: 0" in text
    loop_closed(text)
    return text


def loop_closed(text: str) -> None:
    """After the rollback: the postmortem, regression cases, the flawed v2.3 refused, the fixed one live."""
    # The headline is slipway's own words for what it found (they depend on what v2.2 served).
    assert re.search(r"slipway's postmortem of v2\.2: v2\.2 .*wrong", text), text
    added = re.search(r"regressions add --from \w+: (\d+) of v2\.2's wrong answers are must-pass cases", text)
    assert added and int(added.group(1)) > 0, text
    refused = re.search(
        r"deploy v2\.3 \(trained on v2\.2's data\) -> green: refused by slipway's checklist "
        r"before any user request reached it \(([^)]*)",
        text,
    )
    assert refused and "regression:" in refused.group(1) and "must-pass cases failed" in refused.group(1), (
        text
    )
    assert "all traffic stays on blue" in text, text
    assert re.search(r"deploy the retrained v2\.3 -> green: checklist passed .*all traffic on green", text), (
        text
    )
    assert re.search(r"v2\.3 served \d+ labelled tickets: overall", text), text


def test_scripts_demo_canaries_v2_2_and_the_canary_rolls_itself_back(tmp_path: Path) -> None:
    text = run_demo(tmp_path / "demo")
    assert "smoke test passed (12 prompts); plan 5%:2h,25%:4h,100%" in text
    assert "slipway rolled the canary back by itself: rollback" in text, text
    found = re.search(r"blast radius: the candidate served ([\d.]+) % of all traffic \((\d+) of", text)
    assert found, text
    # Caught at 5 % on a quiet machine; a busy one may reach the 25 % phase first.
    assert float(found.group(1)) < 30 and int(found.group(2)) < 1000
    assert re.search(r"\d+(\.\d+)? % of billing", text), text
    # Check lines whole (they were cut at 110 characters), the story told once, the metric table
    # with its intervals, a progress line per 10 % for a log, and tables not squeezed by the pipe.
    assert re.search(r"check at [\d.]+ % \(phase \d\): rollback — .*beyond the threshold", text), text
    assert text.count("slipway rolled the canary back by itself") == 1
    assert text.count("the canary's last check") == 1 and "effect (interval), p" in text
    assert text.count("invalid_output_rate") == 1, text  # the metric table, once
    assert re.search(r"canary traffic: \d+ % \(\d+/\d+\)", text), text
    assert "versi…" not in text and "(production)" in text
    hints_work_as_printed(tmp_path / "demo", text)


def hints_work_as_printed(workdir: Path, text: str) -> None:
    """`where to look next` names slipway so that a shell finds it, and its serve line starts the
    gateway on the demo's own state."""
    hints = text.split("where to look next:", 1)[1].splitlines()
    commands = [line.split("  # ")[0].strip() for line in hints if "  # " in line]
    assert commands, hints
    if shutil.which("slipway") is None:
        assert not any(c.startswith("slipway ") for c in commands), commands
    serve = next(c for c in commands if " serve --config slipway.yaml" in c)
    assert serve.startswith(f"cd {workdir.resolve()} && "), serve
    port = free_port()
    # As printed, with a free port; `exec` so that stopping the shell stops the gateway.
    proc = subprocess.Popen(
        ["bash", "-c", serve.replace(" && ", " && exec ", 1) + f" --port {port}"], text=True
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, 60.0, "the demo's serve hint", lambda: "")
        status = next(c for c in commands if c.endswith(" status"))
        out = subprocess.run(
            ["bash", "-c", f"{status} --url http://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        history = httpx.get(f"http://127.0.0.1:{port}/admin/history").json()["changes"]
        assert len(history) >= 2, history  # the demo's own route changes: its state was kept
        # The first v2.3 was refused by its checklist, the retrained one went live.
        deps = httpx.get(f"http://127.0.0.1:{port}/admin/deployments").json()["deployments"]
        v2_3 = [d["status"] for d in reversed(deps) if d["version"] == "v2.3"]
        assert v2_3 == ["checklist_failed", "live"], deps
    finally:
        stop(proc)


def test_scripts_demo_bluegreen_switches_and_slipways_bake_rolls_it_back(tmp_path: Path) -> None:
    text = run_demo(tmp_path / "demo", "--strategy", "bluegreen")
    assert "smoke test passed (12 prompts); traffic switched to green. slipway bakes it" in text
    assert re.search(r"check after the switch: rollback — .*billing.*beyond the threshold", text), text
    assert text.count("slipway rolled the bake back by itself: rollback") == 1, text
    assert text.count("the bake's last check") == 1 and "effect (interval), p" in text
    assert "post-switch evaluation" not in text  # the demo no longer judges or rolls back itself
