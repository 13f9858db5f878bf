"""The bake after a blue-green switch: power against a billing regression, and A/A false rollbacks.

    python bench/bake_stats.py power [--rates 2,4,10] [--runs 200] [--jobs 2]
    python bench/bake_stats.py aa [--rate 4] [--runs 200] [--jobs 2]
    python bench/bake_stats.py shift [--rate 4] [--runs 200] [--share 0.35]
    python bench/bake_stats.py all [--update-doc]

The traffic is `canary_stats`'s (the same mix of 12 categories, late labels,
errors, latencies; see its docstring), routed the way a bake sees it: the
old version serves everything for `--reference` seconds (24 h, the default
`bake.reference`), then the switch puts the new one on all traffic. Each
check judges with the real `slipway.analysis.decide.judge` on the old
version's reference window against everything the new one served since the
switch, at the bake's cadence (`rollout.strategies.canary_state.MONITOR_WINDOWS`:
every 5 min for the first hour, every 30 min to 24 h, daily to a week), with
the look index the controller passes. A run ends at the first rollback
verdict (the bake switches back by itself).

* power: billing (22 % of traffic on average) 96 % → 66 % accurate after the
  switch; caught = rolled back within the first hour.
* aa: the new version is the old one; a false rollback is any rollback in the
  whole week.
* shift: A/A, but from the switch on the least accurate category carries
  `--share` of the traffic (about 8 % before): the pooled accuracy falls with
  the mix alone. The same runs are judged as slipway does (the reference
  reweighted to the new mix, `analysis.mix`) and with the plain pooled counts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from canary_stats import Scenario, arm, simulate

from slipway.analysis.decide import Action, Look, judge
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS
from slipway.rollout.strategies.canary_state import MONITOR_WINDOWS, STABLE_AFTER_S

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bake_stats:begin -->", "<!-- bake_stats:end -->"
HOUR = 3600.0


def check_times() -> list[float]:
    """Seconds after the switch at which the bake checks, as `next_check_at` schedules them."""
    times: list[float] = []
    start = 0.0
    for until, every in MONITOR_WINDOWS:
        t = start + every
        while t <= until + 1e-9:
            times.append(t)
            t += every
        start = until
    if times[-1] < STABLE_AFTER_S:
        times.append(STABLE_AFTER_S)
    return times


@dataclass
class BakeRun:
    rolled_back: bool
    #: Seconds after the switch of the rollback (inf without one).
    at_s: float
    looks: int
    candidate_requests: int
    cause: str
    #: The first check that raised a concern (investigate, which the bake notifies) or worse, and why.
    alarm: str = ""


def one_bake(
    s: Scenario, seed: int, reference_s: float, horizon_s: float, other_window: bool = True
) -> BakeRun:
    rng = np.random.default_rng(seed)
    total = reference_s + horizon_s

    def switched(t: np.ndarray) -> np.ndarray:
        return np.where(t >= reference_s, 1.0, 0.0)

    tr = simulate(s, rng, total, switched)
    looks = 0
    alarm = ""
    for after in check_times():
        if after > horizon_s:
            break
        now = reference_s + after
        upto = int(np.searchsorted(tr.t, now))
        base = arm(tr, upto, now, False)
        cand = arm(tr, upto, now, True)
        looks += 1
        verdict = judge(base, cand, DEFAULT_THRESHOLDS, Look(looks, looks), other_window=other_window)
        failing = verdict.failing or verdict.metrics
        cause = ",".join(sorted({f"{m.metric}[{m.category}]" if m.category else m.metric for m in failing}))
        if verdict.action in (Action.INVESTIGATE, Action.ROLLBACK) and not alarm:
            alarm = cause
        if verdict.action is Action.ROLLBACK:
            return BakeRun(True, after, looks, cand.requests, cause, alarm)
    return BakeRun(False, float("inf"), looks, 0, "", alarm)


def run_many(
    s: Scenario,
    runs: int,
    jobs: int,
    reference_s: float,
    horizon_s: float,
    seed: int,
    other_window: bool = True,
) -> list[BakeRun]:
    seeds = [seed * 1_000_003 + i for i in range(runs)]
    job = partial(one_bake, s, reference_s=reference_s, horizon_s=horizon_s, other_window=other_window)
    if jobs <= 1:
        return [job(x) for x in seeds]
    with ProcessPoolExecutor(jobs) as pool:
        return list(pool.map(job, seeds, chunksize=max(1, runs // (jobs * 8))))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def power(rates: list[float], runs: int, jobs: int, reference_s: float) -> list[dict[str, Any]]:
    rows = []
    for rate in rates:
        s = Scenario(
            "billing 96 → 66 %", rate=rate, bad_category="billing", bad_accuracy=0.66, bad_share=0.22
        )
        began = time.time()
        results = run_many(s, runs, jobs, reference_s, HOUR, seed=11)
        caught = [r for r in results if r.rolled_back]
        rows.append(
            {
                "rate": rate,
                "runs": runs,
                "caught_in_first_hour": len(caught),
                "power": len(caught) / runs,
                "interval": wilson(len(caught), runs),
                "median_minutes": float(np.median([r.at_s / 60 for r in caught])) if caught else None,
                "median_candidate_requests": float(np.median([r.candidate_requests for r in caught]))
                if caught
                else None,
                "billing_caused": sum("accuracy[billing]" in r.cause for r in caught),
                "seconds": round(time.time() - began, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def aa(rate: float, runs: int, jobs: int, reference_s: float) -> dict[str, Any]:
    s = Scenario("A/A", rate=rate)
    began = time.time()
    results = run_many(s, runs, jobs, reference_s, STABLE_AFTER_S, seed=23)
    false = [r for r in results if r.rolled_back]
    row = {
        "rate": rate,
        "runs": runs,
        "rolled_back": len(false),
        "share": len(false) / runs,
        "interval": wilson(len(false), runs),
        "looks_per_run": max(r.looks for r in results),
        "when_minutes": sorted(round(r.at_s / 60, 1) for r in false),
        "causes": sorted(r.cause for r in false),
        "seconds": round(time.time() - began, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def shift(rate: float, runs: int, jobs: int, reference_s: float, share: float) -> dict[str, Any]:
    """False rollbacks of an A/A bake whose category mix moves at the switch, judged both ways."""
    s = Scenario("A/A, mix shift", rate=rate, shift_share=share, shift_at=reference_s)
    row: dict[str, Any] = {"rate": rate, "runs": runs, "share": share}
    for name, adjusted in (("standardised", True), ("plain", False)):
        began = time.time()
        results = run_many(s, runs, jobs, reference_s, STABLE_AFTER_S, seed=29, other_window=adjusted)
        false = [r for r in results if r.rolled_back]
        row[name] = {
            "rolled_back": len(false),
            "share": len(false) / runs,
            "interval": wilson(len(false), runs),
            "pooled_caused": sum("accuracy[(all)]" in r.cause for r in false),
            "alarmed": sum(bool(r.alarm) for r in results),
            "alarmed_by_pooled": sum("accuracy[(all)]" in r.alarm for r in results),
            "causes": sorted(r.cause for r in false),
            "seconds": round(time.time() - began, 1),
        }
    print(json.dumps(row), flush=True)
    return row


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {when}"


def markdown(out: dict[str, Any]) -> str:
    lines = [
        BEGIN,
        "## Bake after a blue-green switch: power and A/A (issue #12)",
        "",
        f"`python bench/bake_stats.py all --runs {out['runs']}` — {out['machine']}. Simulated traffic as",
        "in the canary statistics (the same mix, label delays, errors and latencies), routed as a bake",
        f"sees it: the old version alone for {out['reference_h']:g} h (the default `bake.reference`), then",
        "the new one on everything. Each check is the real judge at the bake's cadence (every 5 min for",
        "the first hour, every 30 min to 24 h, daily to a week) on the old version's reference window",
        "against everything since the switch.",
        "",
        "| scenario | target | result |",
        "|---|---|---|",
    ]
    for row in out["power"]:
        low, high = row["interval"]
        lines.append(
            f"| billing 96 % → 66 % after the switch, {row['rate']:g} req/s, {row['runs']} runs "
            f"| rolled back within the first hour | **{row['power'] * 100:.1f} %** "
            f"({row['caught_in_first_hour']} of {row['runs']}; "
            f"95 % interval {low * 100:.1f}–{high * 100:.1f} %); median "
            f"{row['median_minutes'] or 0:.0f} min, {row['median_candidate_requests'] or 0:.0f} requests on "
            f"the new version; {row['billing_caused']} by billing accuracy |"
        )
    a = out["aa"]
    low, high = a["interval"]
    lines.append(
        f"| A/A, {a['rate']:g} req/s, a week of checks ({a['looks_per_run']} looks), {a['runs']} runs "
        f"| false rollbacks ≤ 1 % | **{a['share'] * 100:.1f} %** ({a['rolled_back']} of {a['runs']}; 95 % "
        f"interval {low * 100:.1f}–{high * 100:.1f} %) |"
    )
    lines += ["", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["power", "aa", "shift", "all"])
    parser.add_argument("--share", type=float, default=0.35, help="hard category's share after the switch")
    parser.add_argument("--rates", default="2,4,10", help="req/s for power, comma-separated")
    parser.add_argument("--rate", type=float, default=4.0, help="req/s for A/A")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--reference", type=float, default=24.0, help="hours of the old version's traffic")
    parser.add_argument("--out", type=Path, help="results JSON")
    parser.add_argument(
        "--update-doc", action="store_true", help="replace this script's section in docs/benchmarks.md"
    )
    args = parser.parse_args()
    reference_s = args.reference * HOUR
    out: dict[str, Any] = {"machine": machine(), "runs": args.runs, "reference_h": args.reference}
    if args.what in ("power", "all"):
        out["power"] = power([float(r) for r in args.rates.split(",")], args.runs, args.jobs, reference_s)
    if args.what in ("aa", "all"):
        out["aa"] = aa(args.rate, args.runs, args.jobs, reference_s)
    if args.what == "shift":
        out["shift"] = shift(args.rate, args.runs, args.jobs, reference_s, args.share)
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")
    if args.what == "all":
        section = markdown(out)
        print(section)
        if args.update_doc:
            text = DOC.read_text()
            if BEGIN in text:
                text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
            else:
                text = text.rstrip() + "\n\n" + section + "\n"
            DOC.write_text(text)


if __name__ == "__main__":
    main()
