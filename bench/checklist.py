"""How long a pre-deployment checklist takes: `POST /admin/checklist` against sim backends.

    nice -n 19 python bench/checklist.py [--runs 10] [--profile fast|realistic]

Starts two `slipway sim serve` model servers (production v2.1 and the
candidate v2.2), `slipway serve` in front of them with a webhook-less config
and the default `checklist:` settings, stages v2.2 with `slipway deploy
--no-switch`, then times `--runs` checklists by hand (the ten items, the
paired latency replay of 20 smoke cases included) and reports the median
and the longest, in seconds, as JSON lines. The issue's target: at most 10 s
plus the time of the evaluation suites the checklist runs.

* fast: both sims answer every category in 20 ms (the replay's 40 requests take about a second).
* realistic: the example profile's latency (lognormal, p50 150 to 220 ms by
  category, p95 350 to 520 ms); the replay's budget (`checklist.latency_budget_s`,
  6 s) bounds it, and the pairs answered by then are judged.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import textwrap
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SLIPWAY, Processes, free_port, install_signal_handlers, machine, wait_http, workdir

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "examples" / "smoke" / "support-smoke.jsonl"


def profile(version: str, realistic: bool) -> str:
    base = (ROOT / "examples" / "sim" / "support-classifier.yaml").read_text()
    text = base.replace("version: v2.1-sim", f"version: {version}")
    if not realistic:
        text = re.sub(r"latency_ms: \{[^}]*\}", "latency_ms: 20", text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--profile", choices=("fast", "realistic"), default="realistic")
    parser.add_argument(
        "--suite",
        action="store_true",
        help="Store the 12 smoke cases as an evaluation suite the checklist runs.",
    )
    args = parser.parse_args()
    install_signal_handlers()
    info = machine()
    print(f"# {info['cpu']}, {info['cores']} cores, {info['python']}, {info['date']}", flush=True)
    realistic = args.profile == "realistic"
    with workdir() as tmp, Processes(tmp) as procs:
        sims = {}
        for name, version in (("blue", "v2.1"), ("green", "v2.2")):
            path = tmp / f"{name}.yaml"
            path.write_text(profile(version, realistic))
            port = free_port()
            proc = procs.start(
                f"sim-{name}", [SLIPWAY, "sim", "serve", "--profile", str(path), "--port", str(port)]
            )
            wait_http(f"http://127.0.0.1:{port}/v1/models", proc, procs, f"sim-{name}")
            sims[name] = f"http://127.0.0.1:{port}"
        config = tmp / "slipway.yaml"
        config.write_text(
            textwrap.dedent(
                f"""\
                name: customer-support
                active_slot: blue
                slots:
                  blue: {{model: customer-support-v2.1, endpoint: "{sims["blue"]}", kind: sim}}
                  green: {{model: customer-support-v2.0, endpoint: "{sims["green"]}", kind: sim}}
                """
            )
        )
        port = free_port()
        serve = procs.start(
            "serve",
            [SLIPWAY, "serve", "--config", str(config), "--port", str(port), "--log-level", "warning"],
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", serve, procs, "serve")
        smoke = SMOKE.read_text()
        with httpx.Client(base_url=url, timeout=120) as client:
            staged = client.post(
                "/admin/deploy",
                json={"version": "v2.2", "slot": "green", "model": "customer-support-v2.2",
                      "smoke_jsonl": smoke, "switch": False},
            )  # fmt: skip
            staged.raise_for_status()
            suite_seconds: list[float] = []
            if args.suite:
                added = client.post("/admin/evals/suites/support", json={"cases_jsonl": smoke})
                added.raise_for_status()
                # The suite alone, as the checklist runs it (green paired against blue), to tell it apart.
                for _ in range(3):
                    began = time.perf_counter()
                    client.post(
                        "/admin/evals/run", json={"slot": "green", "against": "blue"}
                    ).raise_for_status()
                    suite_seconds.append(time.perf_counter() - began)
            seconds = []
            summary = ""
            for _ in range(args.runs):
                began = time.perf_counter()
                resp = client.post("/admin/checklist", json={"version": "v2.2", "smoke_jsonl": smoke})
                seconds.append(time.perf_counter() - began)
                resp.raise_for_status()
                summary = resp.json()["checklist"]["summary"]
                latency = next(i for i in resp.json()["checklist"]["items"] if i["item"] == "latency")
        row = {
            "profile": args.profile,
            "suite": args.suite,
            "suite_alone_median_s": round(statistics.median(suite_seconds), 2) if suite_seconds else None,
            "runs": args.runs,
            "median_s": round(statistics.median(seconds), 2),
            "max_s": round(max(seconds), 2),
            "last_summary": summary,
            "last_latency_evidence": latency["evidence"],
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
