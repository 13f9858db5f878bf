"""Input drift: how soon a moved category mix is flagged, and how rarely an unchanged one is.

    python bench/drift.py [--runs 200] [--reference 20000] [--live 250,500,1000] [--shift 10]

The mix is `canary_stats`'s twelve categories (billing 22 %, shipping 18 %,
… down to 0.3 %). Each run draws a reference profile (a version's
evaluation traffic) and a live window with the real
`slipway.analysis.drift.compare` and its default settings (alpha 1 %,
5-point minimum move):

* shift: billing gains `--shift` points in the live window, the other
  categories lose in proportion; flagged = the category dimension drifted.
* steady: the live window has the reference's mix; an alarm is a false one.

Every run is one check on one window of `--live` requests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from canary_stats import CATEGORIES, MIX

from slipway.analysis.drift import compare


def draw(rng: np.random.Generator, shares: np.ndarray, n: int) -> dict[str, dict[str, int]]:
    return {"category": dict(zip(CATEGORIES, (int(x) for x in rng.multinomial(n, shares)), strict=True))}


def shifted(points: float) -> np.ndarray:
    billing = MIX[0] + points / 100
    rest = MIX[1:] / MIX[1:].sum() * (1 - billing)
    return np.concatenate([[billing], rest])


def flagged(runs: int, reference_n: int, live_n: int, live_mix: np.ndarray, seed: int) -> int:
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        (found,) = compare(draw(rng, MIX, reference_n), draw(rng, live_mix, live_n))
        hits += found.drifted
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--live", default="250,500,1000")
    parser.add_argument("--shift", type=float, default=10.0)
    args = parser.parse_args()
    cpu = platform.processor() or platform.machine()
    print(f"# {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip
    for live in (int(x) for x in args.live.split(",")):
        began = time.time()
        row = {
            "live_requests": live,
            "reference_requests": args.reference,
            "runs": args.runs,
            "shift_points": args.shift,
            "flagged": flagged(args.runs, args.reference, live, shifted(args.shift), seed=7),
            "false_alarms": flagged(args.runs, args.reference, live, MIX, seed=11),
            "seconds": round(time.time() - began, 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
