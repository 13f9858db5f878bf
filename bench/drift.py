"""Input drift: how soon a moved mix is flagged, on category and on input length, and how rarely an
unchanged one raises any alarm.

    python bench/drift.py [--runs 200] [--reference 20000] [--live 250,500,1000] [--shift 10]

Each run draws a reference profile (a version's first requests) and a live
window on all eight dimensions drift compares (the out-of-vocabulary rate
on `drift.oov_sample` inputs of each side, as the leader tokenizes them), and runs the real
`slipway.analysis.drift.compare` at its defaults (alpha 1 % split over the
dimensions judged, 5-point minimum move):

* category: `canary_stats`'s twelve categories (billing 22 %, shipping 18 %,
  ... down to 0.3 %);
* the input dimensions, with their own values (`analysis.shadow.features`)
  and a plausible support-ticket mix: length short 70 % / medium 25 % /
  long 5 %, script latin 90 % / cyrillic 5 % / cjk 3 % / other 2 %, code
  5 %, JSON 3 %, numbers 40 %, turns 1: 80 % / 2-3: 15 % / 4+: 5 %,
  unknown tokens none 90 % / under 5 % 6 % / 5-20 % 3 % / over 20 % 1 %.

Scenarios, each over `--runs` runs:

* category shift: billing gains `--shift` points in the live window, the
  others lose in proportion; flagged = the category dimension drifted;
* length shift: long inputs gain `--shift` points, short ones lose them;
  flagged = the length dimension drifted;
* out-of-vocabulary shift: inputs with 5-20 % unknown tokens gain
  `--shift` points, those with none lose them; flagged = the oov dimension
  drifted;
* steady: the live window has the reference's mix on every dimension; an
  alarm on any dimension is a false one.

Every run is one check on one window of `--live` requests. `--profile-cost`
also times `analysis.input_profile.profile` on a window of real texts (what
the leader computes off its event loop at each check).
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
from slipway.analysis.input_profile import OOV_BINS, profile
from slipway.analysis.shadow.features import LENGTHS, TURNS
from slipway.core.drift_config import DriftConfig
from slipway.core.lifecycle import RequestInput
from slipway.core.records import InputWindow

#: Each dimension's values and their shares in the reference.
BASE: dict[str, tuple[list[str], np.ndarray]] = {
    "category": (CATEGORIES, MIX),
    "length": (list(LENGTHS), np.array([0.70, 0.25, 0.05])),
    "script": (["latin", "cyrillic", "cjk", "other"], np.array([0.90, 0.05, 0.03, 0.02])),
    "code": (["yes", "no"], np.array([0.05, 0.95])),
    "json": (["yes", "no"], np.array([0.03, 0.97])),
    "numbers": (["yes", "no"], np.array([0.40, 0.60])),
    "turns": (list(TURNS), np.array([0.80, 0.15, 0.05])),
    # Measured through the engine's tokenizer on a sample of each side, not on the whole window.
    "oov": (list(OOV_BINS), np.array([0.90, 0.06, 0.03, 0.01])),
}
#: Inputs of each side tokenized for the out-of-vocabulary rate (`drift.oov_sample`'s default).
OOV_SAMPLE = DriftConfig().oov_sample


def draw(rng: np.random.Generator, shares: dict[str, np.ndarray], n: int) -> dict[str, dict[str, int]]:
    out = {}
    for dim, (values, _) in BASE.items():
        size = min(n, OOV_SAMPLE) if dim == "oov" else n
        out[dim] = dict(zip(values, (int(x) for x in rng.multinomial(size, shares[dim])), strict=True))
    return out


def steady() -> dict[str, np.ndarray]:
    return {dim: mix for dim, (_, mix) in BASE.items()}


def category_shift(points: float) -> dict[str, np.ndarray]:
    billing = MIX[0] + points / 100
    rest = MIX[1:] / MIX[1:].sum() * (1 - billing)
    return steady() | {"category": np.concatenate([[billing], rest])}


def length_shift(points: float) -> dict[str, np.ndarray]:
    short, medium, long = BASE["length"][1]
    return steady() | {"length": np.array([short - points / 100, medium, long + points / 100])}


def oov_shift(points: float) -> dict[str, np.ndarray]:
    none, low, mid, high = BASE["oov"][1]
    return steady() | {"oov": np.array([none - points / 100, low, mid + points / 100, high])}


def flagged(
    runs: int, reference_n: int, live_n: int, live_mix: dict[str, np.ndarray], seed: int, on: str | None
) -> int:
    """Runs in which `on` drifted (None: any dimension drifted)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(runs):
        found = compare(draw(rng, steady(), reference_n), draw(rng, live_mix, live_n))
        hits += any(f.drifted for f in found if on is None or f.dimension == on)
    return hits


def profile_cost(n: int) -> dict[str, float]:
    """Seconds to profile a window of `n` realistic inputs (median of 5)."""
    rng = np.random.default_rng(3)
    texts = [
        "Where is my parcel? It has not arrived.",
        "I was charged twice for invoice 4411, please refund the second payment " * 4,
        "def total(items):\n    return sum(i.price for i in items)\n" * 3,
        'The API returns {"error": "quota", "code": 429} on every call since Monday.',
        "Здравствуйте, мой заказ не пришёл.",
        "The full log follows. " + "line of a stack trace at module.function(file.py:123) " * 40,
    ]
    picks = rng.choice(len(texts), size=n, p=[0.4, 0.25, 0.05, 0.1, 0.05, 0.15])
    window = InputWindow(
        {}, [RequestInput(str(i), texts[k], 1 + (i % 5 == 0)) for i, k in enumerate(picks)], n, 0, 0
    )
    times = []
    for _ in range(5):
        began = time.perf_counter()
        profile(window)
        times.append(time.perf_counter() - began)
    return {"inputs": n, "seconds_median": round(sorted(times)[2], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--reference", type=int, default=20_000)
    parser.add_argument("--live", default="250,500,1000")
    parser.add_argument("--shift", type=float, default=10.0)
    parser.add_argument(
        "--profile-cost", action="store_true", help="also time profiling 1,000 and 5,000 inputs"
    )
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
            "category_flagged": flagged(
                args.runs, args.reference, live, category_shift(args.shift), seed=7, on="category"
            ),
            "length_flagged": flagged(
                args.runs, args.reference, live, length_shift(args.shift), seed=9, on="length"
            ),
            "oov_flagged": flagged(args.runs, args.reference, live, oov_shift(args.shift), seed=13, on="oov"),
            "false_alarms_any_dimension": flagged(
                args.runs, args.reference, live, steady(), seed=11, on=None
            ),
            "seconds": round(time.time() - began, 1),
        }
        print(json.dumps(row), flush=True)
    if args.profile_cost:
        for n in (1_000, 5_000):
            print(json.dumps({"profile": profile_cost(n)}), flush=True)


if __name__ == "__main__":
    main()
