"""Rollback drills: the switch time each replica shows, there and back, while users keep their slot.

    python bench/drill.py                    # ~1 min; writes bench/results/<time>-drill.json
    python bench/drill.py --quick            # 3 drills per setup: checks the script works
    python bench/drill.py --drills 20 --replicas 3 --rate 100

Everything is real and on 127.0.0.1: two `slipway sim serve` backends (blue
v2.1, green v2.2 active, 1 ms answers, as bench/replicas.py starts them),
then two setups one after the other:

* **sqlite**: one `slipway serve` on SQLite;
* **postgres**: `--replicas` (3) `slipway serve` replicas on a private
  PostgreSQL server (tests/pg.py's `PostgresServer`, fsync off).

In each, users' requests run at `--rate` (50) req/s spread over the replicas
(a paced client thread), and `--drills` (10) `POST /admin/drill` calls go to
the leader one after another. Per drill and replica the drill itself
measures the time from the start of the pin's commit to the first drill
answer from the new slot (`switch_ms` to the standby, `switch_back_ms` back);
this script pools those, counts passed drills, times each admin call, and
checks every user's answer came from the active slot.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _common import BENCH_DIR, Processes, install_signal_handlers, machine, note, pct, workdir
from replicas import Cluster, private_postgres, routing_yaml, start_sims, status
from tests.pg import fresh_schema

BODY = {"model": "customer-support", "messages": [{"role": "user", "content": "refund for invoice 4411?"}]}


@dataclass
class Opts:
    drills: int = 10
    replicas: int = 3
    rate: float = 50.0
    keep: bool = False


class Users:
    """Paced users' requests over the replicas; every answer's slot and status kept."""

    def __init__(self, urls: list[str], rate: float) -> None:
        self.urls, self.gap = urls, 1.0 / rate
        self.slots: dict[str, int] = {}
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            i, next_at = 0, time.monotonic()
            while not self._stop.is_set():
                try:
                    r = client.post(f"{self.urls[i % len(self.urls)]}/v1/chat/completions", json=BODY)
                    slot = r.headers.get("x-slipway-slot", "?")
                    self.slots[slot] = self.slots.get(slot, 0) + 1
                    self.failed += r.status_code != 200
                except httpx.HTTPError:
                    self.failed += 1
                i += 1
                next_at += self.gap
                time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Users:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def leader_url(urls: list[str]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for url in urls:
            st = status(url)
            live = st["replicas"]["live"] if st["replicas"] else []
            if st["replicas"] and st["replicas"]["leader"]["this_replica"] and len(live) == len(urls):
                return url
        time.sleep(0.2)
    raise RuntimeError("no leader with every replica live within 30 s")


def run_drills(name: str, urls: list[str], opts: Opts) -> dict[str, Any]:
    leader = leader_url(urls)
    there: list[float] = []
    back: list[float] = []
    calls: list[float] = []
    passed = 0
    reasons: list[str] = []
    with Users(urls, opts.rate) as users:
        for i in range(opts.drills):
            t0 = time.monotonic()
            r = httpx.post(f"{leader}/admin/drill", json={}, timeout=120)
            calls.append((time.monotonic() - t0) * 1000)
            r.raise_for_status()
            drill = r.json()["drill"]
            passed += drill["passed"]
            if not drill["passed"]:
                reasons.append(drill["result"]["reason"])
            for rep in drill["result"]["replicas"]:
                if rep["switch_ms"] is not None:
                    there.append(rep["switch_ms"])
                if rep["switch_back_ms"] is not None:
                    back.append(rep["switch_back_ms"])
            note(f"{name}: drill {i + 1}/{opts.drills}: {drill['result']['switch_ms']} / "
                 f"{drill['result']['switch_back_ms']} ms")  # fmt: skip
    return {
        "setup": name,
        "replicas": len(urls),
        "drills": opts.drills,
        "passed": passed,
        "reasons": reasons,
        "switch_ms": {"p50": pct(there, 50), "p99": pct(there, 99), "max": max(there, default=0.0)},
        "switch_back_ms": {"p50": pct(back, 50), "p99": pct(back, 99), "max": max(back, default=0.0)},
        "drill_call_ms": {"p50": pct(calls, 50), "max": max(calls, default=0.0)},
        "users": {"answers": sum(users.slots.values()), "by_slot": users.slots, "failed": users.failed},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="rollback drills (see the module docstring)")
    parser.add_argument("--quick", action="store_true", help="3 drills per setup")
    parser.add_argument("--drills", type=int, help="drills per setup (10)")
    parser.add_argument("--replicas", type=int, help="replicas on PostgreSQL (3)")
    parser.add_argument("--rate", type=float, help="users' req/s during the drills (50)")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<time>-drill.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    opts = Opts(drills=3 if args.quick else 10)
    for key in ("drills", "replicas", "rate"):
        if getattr(args, key) is not None:
            setattr(opts, key, getattr(args, key))
    opts.keep = args.keep
    install_signal_handlers()
    results: dict[str, Any] = {"machine": machine(), "opts": vars(opts), "started": time.time(), "setups": []}
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        sims = start_sims(procs)
        config = tmp / "slipway.yaml"
        config.write_text(routing_yaml(sims, "green"))
        cluster = Cluster(procs, config)
        one = cluster.start(f"sqlite:///{tmp / 'slipway.db'}")
        results["setups"].append(run_drills("sqlite", [one.url], opts))
        cluster.stop([one])
        with private_postgres() as server, fresh_schema(server.url) as store:
            replicas = [cluster.start(store) for _ in range(opts.replicas)]
            results["setups"].append(run_drills("postgres", [r.url for r in replicas], opts))
            cluster.stop(replicas)
    out = args.out or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-drill.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("| setup | replicas | drills passed | to standby p50 / p99 / max | back p50 / p99 / max "
          "| drill call p50 | users' answers (by slot), failed |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for s in results["setups"]:
        t, b = s["switch_ms"], s["switch_back_ms"]
        print(
            f"| {s['setup']} | {s['replicas']} | {s['passed']}/{s['drills']} "
            f"| {t['p50']:.1f} / {t['p99']:.1f} / {t['max']:.1f} ms "
            f"| {b['p50']:.1f} / {b['p99']:.1f} / {b['max']:.1f} ms | {s['drill_call_ms']['p50']:.0f} ms "
            f"| {s['users']['answers']} ({s['users']['by_slot']}), {s['users']['failed']} |"
        )
    note(f"results: {out}")


if __name__ == "__main__":
    main()
