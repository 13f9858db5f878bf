"""Issue #4's numbers for the canary judge: A/A, power, a latency regression, and one check on 1M records.

    python bench/canary_stats.py all [--runs 1000] [--jobs 2] [--update-doc]
    python bench/canary_stats.py aa|power|latency|store [--rate 4] [--quick]

The simulations draw each request's outcome with numpy (no HTTP, no store)
and judge with the real `slipway.analysis.decide.judge`, at the real cadence:

* the seed's plan: 5 % of traffic for 2 h, then 25 % for 4 h, then 100 %;
  a check every 15 minutes on everything since the canary started (8 + 16
  looks); the last look of a phase resolves through `decide.phase_end`
  (pass → promote, hold → promote, inconclusive → roll back: DF4);
* between them a guard look every `--guard` seconds (60, the default of
  `canary.guard_interval`; 0 turns them off) on the same cumulative samples,
  acting only on a rollback verdict, as the controller does;
* Poisson arrivals at `--rate` requests/s (all traffic), each request routed
  to the candidate with the phase's weight;
* a category mix per run: 12 categories from 22 % down to 0.3 % of traffic
  (Dirichlet-perturbed around that shape, so sparse categories differ from
  run to run) plus 5 % of requests without a category; each category's
  production accuracy is drawn from 0.80–0.97;
* ground truth arrives as feedback for `--label-share` of requests (50 %),
  after an exponential delay (mean 10 min); 5 % of requests get a
  satisfaction rating (satisfied with probability 0.85 when the answer was
  right, 0.35 when wrong), after the same kind of delay;
* 1 % errors, half the requests streamed with 0.5 % backend aborts,
  0.3 % invalid outputs, lognormal latency (median 800 ms, σ 0.5, a
  multiplier per category), TTFT (median 150 ms) and output length (median
  300 characters, σ 0.6);
* per look, latencies, TTFT, output lengths and invalid outputs come from a
  subsample of at most 10,000 completed requests per arm, drawn the way the
  store draws it (`store/repositories/arm_windows.subsample`): each request
  has a uniform random key (the store: its random request id), the arm keeps
  the completed requests whose key is below `sampling_probability` rounded
  up to a power of two (`id_threshold`), then the 10,000 smallest keys — so
  the sample is nearly the same from look to look, not drawn afresh.

A run ends at the first rollback, at the first investigate (a human decides;
the canary never promotes itself from there), or promoted after the last
phase. `store` times one real check (`analysis.sources.store.arm_samples` for
both slots + `judge`) on a SQLite store holding 1,000,000 request records.

`--update-doc` replaces this script's section in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slipway.analysis.coverage import CoverageSettings, coverage
from slipway.analysis.decide import Action, Look, blast_radius, judge, phase_end
from slipway.analysis.samples import UNCATEGORIZED, ArmSample, CategoryCount
from slipway.analysis.thresholds import PhaseEndChoice, Thresholds
from slipway.rollout.analysis_judge import category_level
from slipway.store.repositories.arm_windows import ID_HEX_DIGITS, id_threshold, sampling_probability

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- canary_stats:begin -->", "<!-- canary_stats:end -->"

PLAN = ((0.05, 2 * 3600.0), (0.25, 4 * 3600.0))
INTERVAL = 15 * 60.0
#: Guard looks between the scheduled checks (the controller's `canary.guard_interval`); 0 = none.
GUARD = 60.0
LATENCY_CAP = 10_000
#: The shape of the category mix; each run perturbs it (Dirichlet) so sparse categories vary.
MIX = np.array([0.22, 0.18, 0.15, 0.12, 0.10, 0.08, 0.05, 0.04, 0.03, 0.02, 0.007, 0.003])
CATEGORIES = [
    "billing",
    "shipping",
    "account",
    "technical",
    "returns",
    "cancellations",
    "warranty",
    "legal",
    "press",
    "partners",
    "accessibility",
    "gdpr",
]
UNCATEGORIZED_SHARE = 0.05


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float = 4.0
    label_share: float = 0.5
    label_delay_s: float = 600.0
    rated_share: float = 0.05
    error_rate: float = 0.01
    abort_rate: float = 0.005
    invalid_rate: float = 0.003
    #: Candidate: accuracy override in one category (the seed's failure), latency multiplier.
    bad_category: str | None = None
    bad_accuracy: float | None = None
    bad_share: float | None = None
    latency_factor: float = 1.0
    #: From `shift_at` (seconds) on, the least accurate category carries this share of the traffic:
    #: the category mix moves while no model changes (a bake's windows are different days).
    shift_share: float | None = None
    shift_at: float = 0.0


@dataclass
class RunResult:
    outcome: str  # rollback | investigate | hold | promoted
    at_look: int
    at_time_s: float
    candidate_requests: int
    phase: int
    reason: str
    cause: str = ""
    blast_share: float = 0.0
    blast_category_share: float = 0.0
    excess_wrong: float = 0.0
    metrics: dict[str, str] = field(default_factory=dict)
    #: Rolled back by a guard look between the scheduled checks.
    guard: bool = False


# -- simulation ----------------------------------------------------------------------------


@dataclass
class Traffic:
    t: np.ndarray
    cand: np.ndarray
    cat: np.ndarray  # index into CATEGORIES, or -1
    error: np.ndarray
    stream: np.ndarray
    abort: np.ndarray
    invalid: np.ndarray
    latency: np.ndarray
    ttft: np.ndarray
    chars: np.ndarray
    label_at: np.ndarray  # inf when no label ever arrives
    correct: np.ndarray
    rated_at: np.ndarray
    satisfied: np.ndarray
    #: The subsample's key, uniform in [0, 1): the store's random request id, scaled.
    key: np.ndarray


def plan_weights(t: np.ndarray) -> np.ndarray:
    """The candidate's share at each arrival time under the canary's PLAN (its last weight after it:
    extensions of the last phase)."""
    weight = np.full(len(t), PLAN[-1][0])
    edge = 0.0
    for w, duration in PLAN:
        weight[(t >= edge) & (t < edge + duration)] = w
        edge += duration
    return weight


def simulate(
    s: Scenario,
    rng: np.random.Generator,
    horizon: float,
    weights: Callable[[np.ndarray], np.ndarray] = plan_weights,
) -> Traffic:
    """Every request until `horizon`; `weights` says the candidate's share at each arrival time."""
    n = int(rng.poisson(s.rate * horizon))
    t = np.sort(rng.uniform(0.0, horizon, n))
    weight = weights(t)
    cand = rng.random(n) < weight
    mix = rng.dirichlet(MIX * 200)
    if s.bad_category is not None and s.bad_share is not None:
        i = CATEGORIES.index(s.bad_category)
        rest = np.delete(mix, i)
        mix = np.insert(rest / rest.sum() * (1 - s.bad_share), i, s.bad_share)
    cat = rng.choice(len(CATEGORIES), size=n, p=mix)
    cat[rng.random(n) < UNCATEGORIZED_SHARE] = -1
    accuracy = rng.uniform(0.80, 0.97, len(CATEGORIES) + 1)  # last: uncategorized
    if s.bad_category is not None:
        accuracy[CATEGORIES.index(s.bad_category)] = 0.96
    if s.shift_share is not None:
        late = t >= s.shift_at
        hard = int(np.argmin(accuracy[:-1]))
        shifted = mix * (1 - s.shift_share) / (1 - mix[hard])
        shifted[hard] = s.shift_share
        moved = rng.choice(len(CATEGORIES), size=int(late.sum()), p=shifted)
        moved[rng.random(len(moved)) < UNCATEGORIZED_SHARE] = -1
        cat[late] = moved
    p_right = accuracy[cat]
    if s.bad_category is not None and s.bad_accuracy is not None:
        bad = cand & (cat == CATEGORIES.index(s.bad_category))
        p_right = np.where(bad, s.bad_accuracy, p_right)
    correct = rng.random(n) < p_right
    error = rng.random(n) < s.error_rate
    stream = rng.random(n) < 0.5
    abort = stream & ~error & (rng.random(n) < s.abort_rate)
    invalid = rng.random(n) < s.invalid_rate
    per_cat = rng.uniform(0.7, 1.4, len(CATEGORIES) + 1)[cat]
    latency = rng.lognormal(np.log(800.0), 0.5, n) * per_cat
    ttft = rng.lognormal(np.log(150.0), 0.4, n)
    factor = np.where(cand, s.latency_factor, 1.0)
    latency, ttft = latency * factor, ttft * factor
    chars = rng.lognormal(np.log(300.0), 0.6, n)
    labelled = rng.random(n) < s.label_share
    label_at = np.where(labelled, t + rng.exponential(s.label_delay_s, n), np.inf)
    rated = rng.random(n) < s.rated_share
    rated_at = np.where(rated, t + rng.exponential(s.label_delay_s, n), np.inf)
    satisfied = rng.random(n) < np.where(correct, 0.85, 0.35)
    key = rng.random(n)  # drawn last: the same seed gives the same traffic as before the keys
    return Traffic(
        t,
        cand,
        cat,
        error,
        stream,
        abort,
        invalid,
        latency,
        ttft,
        chars,
        label_at,
        correct,
        rated_at,
        satisfied,
        key,
    )


def sample_share(requests: int) -> float:
    """The share of an arm's keys the store reads: `sampling_probability` as `id_threshold` rounds it."""
    threshold = id_threshold(sampling_probability(requests, LATENCY_CAP))
    return 1.0 if threshold is None else int(threshold, 16) / 16.0**ID_HEX_DIGITS


def arm(tr: Traffic, upto: int, now: float, candidate: bool) -> ArmSample:
    sl = slice(0, upto)
    mine = tr.cand[sl] == candidate
    cat = tr.cat[sl][mine]
    error = tr.error[sl][mine]
    stream = tr.stream[sl][mine]
    abort = tr.abort[sl][mine]
    completed = ~error & ~abort
    # The store's subsample: keys below a power-of-two share, then the LATENCY_CAP smallest.
    key = tr.key[sl][mine]
    done = np.flatnonzero(completed & (key < sample_share(len(key))))
    if len(done) > LATENCY_CAP:
        done = np.sort(done[np.argpartition(key[done], LATENCY_CAP - 1)[:LATENCY_CAP]])
    lat = tr.latency[sl][mine][done]
    ttft = tr.ttft[sl][mine][done][stream[done]]
    chars = tr.chars[sl][mine][done]
    invalid = int(tr.invalid[sl][mine][done].sum())
    labelled = completed & (tr.label_at[sl][mine] < now)
    cats = cat[labelled] + 1  # 0 = uncategorized
    right = tr.correct[sl][mine][labelled]
    n_by = np.bincount(cats, minlength=len(CATEGORIES) + 1)
    k_by = np.bincount(cats, weights=right, minlength=len(CATEGORIES) + 1)
    names = [UNCATEGORIZED, *CATEGORIES]
    per_category = {names[i]: CategoryCount(int(n_by[i]), int(k_by[i])) for i in range(len(names)) if n_by[i]}
    traffic = np.bincount(cat + 1, minlength=len(CATEGORIES) + 1)
    rated = tr.rated_at[sl][mine] < now
    return ArmSample(
        slot="green" if candidate else "blue",
        requests=int(mine.sum()),
        errors=int(error.sum()),
        streams=int(stream.sum()),
        aborted_streams=int(abort.sum()),
        latency_ms=lat,
        ttft_ms=ttft,
        output_chars=chars,
        sampled_from=int(completed.sum()),
        checked_outputs=len(done),
        invalid_outputs=invalid,
        rated=int(rated.sum()),
        satisfied=int(tr.satisfied[sl][mine][rated].sum()),
        per_category=per_category,
        category_requests={names[i]: int(traffic[i]) for i in range(len(names)) if traffic[i]},
        since=0.0,
        until=now,
    )


def one_run(s: Scenario, seed: int, thresholds: Thresholds, guard: float = GUARD) -> RunResult:
    rng = np.random.default_rng(seed)
    horizon = sum(d for _, d in PLAN) + 4 * 3600.0  # room for extensions
    tr = simulate(s, rng, horizon)
    edge, look_total = 0.0, 0
    guards = round(INTERVAL / guard) - 1 if guard > 0 else 0
    for phase, (_weight, duration) in enumerate(PLAN, start=1):
        planned = round(duration / INTERVAL)
        index = 0
        while True:
            index += 1
            before = edge + (index - 1) * INTERVAL
            # Guard looks between the scheduled checks: only a rollback verdict counts.
            for k in range(1, guards + 1):
                now = before + k * guard
                upto = int(np.searchsorted(tr.t, now))
                base = arm(tr, upto, now, False)
                cand = arm(tr, upto, now, True)
                verdict = judge(base, cand, thresholds, Look(index, planned))
                if verdict.action is Action.ROLLBACK:
                    return _finish("rollback", verdict, look_total, now, cand, base, phase, s, guard=True)
            look_total += 1
            now = edge + index * INTERVAL
            upto = int(np.searchsorted(tr.t, now))
            base = arm(tr, upto, now, False)
            cand = arm(tr, upto, now, True)
            verdict = judge(base, cand, thresholds, Look(index, planned))
            decision: str | None = None
            if verdict.action is Action.ROLLBACK:
                decision = "rollback"
            elif verdict.action is Action.INVESTIGATE:
                decision = "investigate"
            elif index >= planned:
                choice = phase_end(verdict, thresholds)
                if choice is PhaseEndChoice.ROLLBACK:
                    decision = "rollback"
                elif choice is PhaseEndChoice.HOLD:
                    decision = "hold"
                elif choice is PhaseEndChoice.EXTEND and index < planned + 8:
                    continue
                elif choice is PhaseEndChoice.EXTEND:
                    decision = "rollback"
            if decision is None and index >= planned and _uncovered(base, cand, thresholds):
                # The product's coverage rule: wait for labels up to the hold limit, then inconclusive.
                if index < planned + HOLD_LIMIT_LOOKS:
                    continue
                decision = "inconclusive"
            if decision is None:
                if index >= planned:
                    break
                continue
            return _finish(decision, verdict, look_total, now, cand, base, phase, s)
        edge += index * INTERVAL
    return RunResult("promoted", look_total, edge, 0, len(PLAN), "promoted")


#: The canary's default hold limit (4 h) in check intervals: how long a phase waits for labels.
HOLD_LIMIT_LOOKS = round(4 * 3600.0 / INTERVAL)


def _uncovered(base: ArmSample, cand: ArmSample, thresholds: Thresholds) -> bool:
    """A category carrying `coverage_min_share` of the traffic lacks the labels to be judged."""
    settings = CoverageSettings(
        detect_drop=thresholds.coverage_drop,
        power=thresholds.coverage_power,
        min_share=thresholds.coverage_min_share,
    )
    rows = coverage(base, cand, level=category_level(thresholds, base, cand), settings=settings)
    return any(r.required and not r.covered for r in rows)


def _finish(
    decision: str,
    verdict: Any,
    look: int,
    now: float,
    cand: ArmSample,
    base: ArmSample,
    phase: int,
    s: Scenario,
    *,
    guard: bool = False,
) -> RunResult:
    radius = blast_radius(cand, [base, cand], verdict)
    cat_share = excess = 0.0
    if s.bad_category is not None:
        for c in radius.per_category:
            if c.category == s.bad_category:
                cat_share = c.share
                excess = c.excess_wrong or 0.0
    culprits = verdict.failing or tuple(m for m in verdict.metrics if m.action is verdict.action)
    cause = ",".join(sorted({m.name if m.metric != "accuracy" else "accuracy" for m in culprits})) or "-"
    return RunResult(
        decision,
        look,
        now,
        cand.requests,
        phase,
        verdict.reason,
        cause,
        radius.share,
        cat_share,
        excess,
        guard=guard,
    )


def run_many(
    s: Scenario, runs: int, jobs: int, thresholds: Thresholds, seed: int = 1, guard: float = GUARD
) -> list[RunResult]:
    seeds = [seed * 1_000_003 + i for i in range(runs)]
    if jobs <= 1:
        return [one_run(s, x, thresholds, guard) for x in seeds]
    with ProcessPoolExecutor(jobs) as pool:
        return list(
            pool.map(
                one_run,
                [s] * runs,
                seeds,
                [thresholds] * runs,
                [guard] * runs,
                chunksize=max(1, runs // (jobs * 8)),
            )
        )


def tally(results: list[RunResult]) -> dict[str, Any]:
    n = len(results)
    outcomes = {
        k: sum(r.outcome == k for r in results)
        for k in ("rollback", "investigate", "hold", "inconclusive", "promoted")
    }
    causes: dict[str, int] = {}
    for r in results:
        if r.outcome in ("rollback", "investigate"):
            causes[f"{r.outcome}: {r.cause}"] = causes.get(f"{r.outcome}: {r.cause}", 0) + 1
    guarded = sum(r.guard for r in results)
    return {"runs": n, **outcomes, "by_guard": guarded, "causes": causes}


# -- the store check ----------------------------------------------------------------------------


async def store_check(records: int, label_share: float, rated_share: float, rounds: int) -> dict[str, Any]:
    from sqlalchemy import insert

    from slipway.analysis.sources.store import arm_samples
    from slipway.store import open_store
    from slipway.store.schema import feedback, requests

    rng = np.random.default_rng(7)
    # Request ids as the gateway makes them (`os.urandom(12).hex()`): the subsample is drawn by id.
    id_rng = np.random.default_rng(8)
    t0 = 1_700_000_000.0
    with tempfile.TemporaryDirectory(prefix="slipway-canary-bench-") as tmp:
        store = await open_store(f"sqlite:///{tmp}/slipway.db")
        try:
            build_start = time.perf_counter()
            writer = store._engines.writer  # bench only: bulk-load faster than the recorder would
            names = [*CATEGORIES, None]
            shares = np.append(MIX / MIX.sum() * (1 - UNCATEGORIZED_SHARE), UNCATEGORIZED_SHARE)
            batch = 50_000
            for start in range(0, records, batch):
                m = min(batch, records - start)
                cat = rng.choice(len(names), size=m, p=shares)
                cand = rng.random(m) < 0.25
                err = rng.random(m) < 0.01
                lat = rng.lognormal(np.log(800.0), 0.5, m)
                width = ID_HEX_DIGITS // 2
                raw_ids = id_rng.bytes(width * m)
                ids = [raw_ids[j * width : (j + 1) * width].hex() for j in range(m)]
                rows, fb = [], []
                for j in range(m):
                    i = start + j
                    c = names[cat[j]]
                    answer = (c or "other") + " — routed to the right team"
                    rows.append(
                        {
                            "request_id": ids[j],
                            "started_at": t0 + i * 0.02,
                            "slot": "green" if cand[j] else "blue",
                            "version": "v2.2" if cand[j] else "v2.1",
                            "api": "openai.chat",
                            "stream": bool(i % 2),
                            "route_version": 3,
                            "category": c,
                            "sticky_key": None,
                            "status": 502 if err[j] else 200,
                            "error": "upstream_502" if err[j] else None,
                            "latency_ms": float(lat[j]),
                            "ttft_ms": float(lat[j] / 5) if i % 2 else None,
                            "output_chars": 40 + int(lat[j] / 4),
                            "output_tokens": None,
                            "output_head": answer,
                            "aborted": False,
                        }
                    )
                    u = rng.random()
                    if u < label_share:
                        fb.append({"request_id": ids[j], "at": t0 + i * 0.02 + 60, "label": c or "other"})
                    elif u < label_share + rated_share:
                        fb.append(
                            {
                                "request_id": ids[j],
                                "at": t0 + i * 0.02 + 60,
                                "satisfied": bool(rng.random() < 0.8),
                            }
                        )
                with writer.begin() as conn:
                    conn.execute(insert(requests), rows)
                    if fb:
                        conn.execute(
                            insert(feedback),
                            [{"satisfied": None, "label": None, "score": None, **f} for f in fb],
                        )
            build_s = time.perf_counter() - build_start
            times, read_times, cpu_times = [], [], []
            verdict = None
            for _ in range(rounds):
                began, cpu = time.perf_counter(), time.process_time()
                samples = await arm_samples(store, ["blue", "green"], t0, t0 + records * 0.02 + 1)
                read = time.perf_counter()
                verdict = judge(samples["blue"], samples["green"])
                times.append(time.perf_counter() - began)
                cpu_times.append(time.process_time() - cpu)
                read_times.append(read - began)
            assert verdict is not None
            return {
                "records": records,
                "label_share": label_share,
                "rated_share": rated_share,
                "build_s": round(build_s, 1),
                "check_s": [round(x, 3) for x in times],
                "read_s": [round(x, 3) for x in read_times],
                "median_s": round(statistics.median(times), 3),
                "cpu_s": [round(x, 3) for x in cpu_times],
                "median_cpu_s": round(statistics.median(cpu_times), 3),
                "verdict": verdict.action.value,
                "baseline_requests": samples["blue"].requests,
                "candidate_requests": samples["green"].requests,
                "load": os.getloadavg(),
            }
        finally:
            await store.close()


# -- report ------------------------------------------------------------------------------------


def pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def section(results: dict[str, Any], args: argparse.Namespace) -> str:
    out = [
        BEGIN,
        "## Canary statistics: A/A, power, latency regression, one check on 1M records (issue #4)",
        "",
        f"`python bench/canary_stats.py all --runs {args.runs} --jobs {args.jobs}` — "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; "
        f"{results.get('when', '')}. The simulations draw outcomes with numpy (no HTTP, no store) and "
        "judge them with the real `analysis.decide.judge` at the real cadence: the seed's plan (5 % for 2 h, "
        "25 % for 4 h, then 100 %), a check every 15 minutes on everything since the canary started, "
        f"a guard look every {args.guard:g} s between them that acts only on a rollback verdict, "
        "phase ends through `decide.phase_end`. See the script's docstring for the traffic model "
        "(12 categories from 22 % down to 0.3 % of traffic, Dirichlet-perturbed per run; labels for half "
        "the requests after ~10 min; 5 % rated). Default thresholds (`Thresholds()`, "
        "family-wise alpha 0.01).",
        "",
        "| scenario | target | result |",
        "|---|---|---|",
    ]
    for key, line in results["rows"]:
        out.append(line)
        del key
    out += ["", *results["notes"], END]
    return "\n".join(out)


def update_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in doc and END in doc:
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        doc = head + text + tail
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    DOC.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["all", "aa", "power", "latency", "thin", "store"])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--rate", type=float, default=4.0, help="all traffic, requests/s")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument(
        "--guard", type=float, default=GUARD, help="seconds between guard looks (rollback only); 0 = none"
    )
    parser.add_argument("--quick", action="store_true", help="100 runs, 200k records")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--update-doc", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.records = min(args.runs, 100), min(args.records, 200_000)
    thresholds = Thresholds()
    raw: dict[str, Any] = {"when": time.strftime("%Y-%m-%d"), "rows": [], "notes": []}
    what = args.what

    if what in ("all", "aa"):
        for rate in (args.rate, 1.0, 20.0) if what == "all" else (args.rate,):
            started = time.perf_counter()
            res = run_many(Scenario("aa", rate=rate), args.runs, args.jobs, thresholds, guard=args.guard)
            t = tally(res)
            raw[f"aa@{rate}"] = t
            false_rb = t["rollback"] / t["runs"]
            print(
                f"A/A rate={rate}: {json.dumps(t)} ({time.perf_counter() - started:.0f} s)", file=sys.stderr
            )
            raw["rows"].append(
                (
                    "aa",
                    f"| A/A, {rate:g} req/s, {t['runs']} canaries | false rollbacks ≤ 1 % | "
                    f"**{pct(false_rb)}** rolled back ({t['rollback']}); {t['investigate']} investigate, "
                    f"{t['hold']} held, {t['promoted']} promoted |",
                )
            )
            if t["causes"]:
                raw["notes"].append(f"* A/A at {rate:g} req/s, what fired: {t['causes']}.")

    if what in ("all", "power"):
        for rate in (args.rate, 2.0, 10.0, 20.0) if what == "all" else (args.rate,):
            s = Scenario("power", rate=rate, bad_category="billing", bad_accuracy=0.70, bad_share=0.20)
            res = run_many(s, args.runs, args.jobs, thresholds, seed=2, guard=args.guard)
            t = tally(res)
            rolled = [r for r in res if r.outcome == "rollback"]
            before = sum(r.candidate_requests < 1000 for r in rolled) / len(res)
            med_req = statistics.median(r.candidate_requests for r in rolled) if rolled else float("nan")
            med_min = statistics.median(r.at_time_s for r in rolled) / 60 if rolled else float("nan")
            share = statistics.median(r.blast_share for r in rolled) if rolled else float("nan")
            cat_share = statistics.median(r.blast_category_share for r in rolled) if rolled else float("nan")
            wrong = statistics.median(r.excess_wrong for r in rolled) if rolled else float("nan")
            raw[f"power@{rate}"] = {
                **t,
                "before_1000": before,
                "median_requests": med_req,
                "median_minutes": med_min,
            }
            print(f"power rate={rate}: {json.dumps(raw[f'power@{rate}'])}", file=sys.stderr)
            raw["rows"].append(
                (
                    "power",
                    f"| power: billing (20 % of traffic) 96 % → 70 % accurate, 5 % weight, {rate:g} req/s | "
                    f"rolled back before 1,000 canary requests in ≥ 95 % | **{pct(before)}** "
                    f"({t['rollback']} of {t['runs']} rolled back, {t['by_guard']} by a guard look); "
                    f"median {med_req:.0f} canary requests, "
                    f"{med_min:.0f} min; blast radius {pct(share)} of all traffic, "
                    f"{pct(cat_share)} of billing, "
                    f"~{wrong:.0f} excess wrong answers |",
                )
            )
            raw["notes"].append(f"* Power at {rate:g} req/s, what fired: {t['causes']}.")

    if what in ("all", "thin"):
        # The category too thin to judge: billing at 5 % of traffic, 96 % → 66 % on the candidate.
        s = Scenario("thin", rate=args.rate, bad_category="billing", bad_accuracy=0.66, bad_share=0.05)
        res = run_many(s, args.runs, args.jobs, thresholds, seed=4, guard=args.guard)
        t = tally(res)
        stopped = (t["runs"] - t["promoted"]) / t["runs"]
        raw["thin"] = {**t, "not_promoted": stopped}
        print(f"thin: {json.dumps(raw['thin'])}", file=sys.stderr)
        raw["rows"].append(
            (
                "thin",
                f"| thin category: billing at 5 % of traffic 96 % → 66 %, {args.rate:g} req/s "
                f"| caught or the ramp held, never promoted unjudged, in ≥ 99 % | **{pct(stopped)}** "
                f"({t['rollback']} rolled back, {t['inconclusive']} ended inconclusive waiting for labels, "
                f"{t['investigate']} investigate, {t['hold']} held, {t['promoted']} promoted) |",
            )
        )
        raw["notes"].append(f"* Thin category, what fired: {t['causes']}.")

    if what in ("all", "latency"):
        s = Scenario("latency", rate=args.rate, latency_factor=1.6)
        res = run_many(s, args.runs, args.jobs, thresholds, seed=3, guard=args.guard)
        t = tally(res)
        ok = (t["investigate"] + t["hold"]) / t["runs"]
        when = [r.candidate_requests for r in res if r.outcome == "investigate"]
        raw["latency"] = {**t, "held_or_investigated": ok}
        print(f"latency: {json.dumps(raw['latency'])}", file=sys.stderr)
        raw["rows"].append(
            (
                "latency",
                f"| latency only: candidate +60 % (p95 ×1.6), {args.rate:g} req/s | held or investigated, "
                f"never promoted, in ≥ 95 % | **{pct(ok)}** ({t['investigate']} investigate, "
                f"{t['hold']} held, "
                f"{t['rollback']} rolled back, {t['promoted']} promoted); median "
                f"{statistics.median(when) if when else float('nan'):.0f} canary requests to the decision |",
            )
        )
        raw["notes"].append(f"* Latency regression, what fired: {t['causes']}.")

    if what in ("all", "store"):
        res_store = asyncio.run(store_check(args.records, 0.10, 0.05, rounds=5))
        raw["store"] = res_store
        print(f"store: {json.dumps(res_store)}", file=sys.stderr)
        raw["rows"].append(
            (
                "store",
                f"| one check on SQLite, {res_store['records']:,} records (25 % candidate, 10 % labelled, "
                f"5 % rated) | ≤ 1 s | **{res_store['median_s']:.2f} s** median of 5 "
                f"({', '.join(f'{x:.2f}' for x in res_store['check_s'])}); "
                f"{res_store['median_cpu_s']:.2f} CPU-s (both threads); load average during the run "
                f"{res_store['load'][0]:.1f} |",
            )
        )

    text = section(raw, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2, default=str))
    if args.update_doc:
        update_doc(text)


if __name__ == "__main__":
    main()
