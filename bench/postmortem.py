"""Post-rollback analysis over a rolled-back canary of 100,000 records, on SQLite and PostgreSQL.

    nice -n 19 python bench/postmortem.py [--records 100000] [--runs 3] [--no-postgres]

The canary is `tests/postmortem_story.py`'s: production an hour before it,
the candidate on 30 % of two hours of traffic, 70 % of requests labelled,
every input stored, an evaluation run with its suite. The postmortem is the
server's own (`slipway.app.postmortem.PostmortemService`) on a store opened
like `slipway serve` opens it. Timed: the whole postmortem (store reads and
analysis), median of `--runs` after one warm-up run (which pays scipy's
import, as a server's first canary check does). Target: <= 2 s on each.
PostgreSQL is a private server started for the run (tests/pg.py, fsync off).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _common import machine
from tests.pg import PostgresServer, find_pg_bin, fresh_schema
from tests.postmortem_story import rolled_back_canary

from slipway.app.postmortem import PostmortemService
from slipway.store import default_store_url, open_store

TARGET_S = 2.0


async def measure(url: str, records: int, runs: int) -> dict[str, object]:
    store = await open_store(url)
    try:
        t = time.perf_counter()
        story = await rolled_back_canary(store, records=records)
        built = time.perf_counter() - t
        service = PostmortemService(store)
        first = time.perf_counter()
        pm = await service.postmortem(story.deployment.id)
        first_s = time.perf_counter() - first
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            pm = await service.postmortem(story.deployment.id)
            times.append(time.perf_counter() - t)
        assert pm.wrong == story.candidate_wrong, (pm.wrong, story.candidate_wrong)
        assert any(f.significant and f.value == "billing" for f in pm.findings)
        return {
            "records": records,
            "candidate_requests": story.candidate_requests,
            "labelled_candidate_answers": pm.labelled,
            "wrong_answers": pm.wrong,
            "inputs_read": pm.inputs_read,
            "build_s": round(built, 1),
            "first_s": round(first_s, 3),
            "median_s": round(statistics.median(times), 3),
            "max_s": round(max(times), 3),
            "within_target": max(times) <= TARGET_S,
            "headline": pm.headline,
        }
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    opts = parser.parse_args()
    out: dict[str, object] = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        out["sqlite"] = asyncio.run(measure(default_store_url(Path(tmp)), opts.records, opts.runs))
        print(json.dumps({"sqlite": out["sqlite"]}, indent=2), flush=True)
    if not opts.no_postgres:
        bin_dir = find_pg_bin()
        if bin_dir is None:
            raise SystemExit("PostgreSQL binaries not found (run scripts/ci-services, or set SLIPWAY_PG_BIN)")
        server = PostgresServer(bin_dir)
        server.start()
        try:
            with fresh_schema(server.url) as url:
                out["postgres"] = asyncio.run(measure(url, opts.records, opts.runs))
                print(json.dumps({"postgres": out["postgres"]}, indent=2), flush=True)
        finally:
            server.stop()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
