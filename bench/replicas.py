"""Replicas on one PostgreSQL: route propagation, leader failover, a store outage, idle overhead.

    python bench/replicas.py                 # ~10 min; writes bench/results/<time>-replicas.json
    python bench/replicas.py --quick         # shorter runs: checks the script works, numbers are rough
    python bench/replicas.py --rollbacks 40 --outage 30 --idle 60 --failovers 3

Everything is real and on 127.0.0.1: a private PostgreSQL server started for
the run (tests/pg.py's `PostgresServer`, fsync off), `slipway serve`
replicas as subprocesses sharing it (each part on a fresh schema), and two
`slipway sim serve` backends (blue v2.1, green v2.2, 1 ms answers).

Side by side in one run:

* **idle**: 3 idle replicas for `--idle` s: statements/s PostgreSQL ran for
  them (`log_statement=all` turned on for the window, lines counted, this
  script's own excluded), transactions/s (`pg_stat_database`), and each
  replica's CPU % (utime + stime from /proc/<pid>/stat);
* **propagation**, twice, with notifications and with `--no-route-notify`
  (poll every 1 s): 3 replicas under `--rate` (300) req/s spread evenly
  (Poisson arrivals, keep-alive connections, `_common.HttpConn`), and
  `--rollbacks` (100) `POST /admin/rollback` calls, sent to the replicas in
  turn, each one undoing the last (blue, green, blue, ...). Every response's
  `x-slipway-slot`, send and receive time and replica are kept. Propagation of
  one rollback = the send time of the last request any replica answered from
  the old slot, minus the moment the admin call returned (0 if none was sent
  after it); also given by receive time. After a call the next waits until
  every replica answered a later request from the new slot, plus 0.3 s;
* **failover**: 3 replicas with the canary's clock scaled (as the end-to-end
  test does), a canary running (10 %, a long phase, checks every 1.5 s real);
  `--failovers` times: `kill -9` the leader, time until a survivor reports
  itself leader, and until the canary's looks count grows past the one read
  from the killed leader just before; a new replica replaces the killed one;
* **outage**: 2 replicas under `--outage-rate` (200) req/s, PostgreSQL
  stopped (`pg_ctl stop -m fast`) for `--outage` (30) s and started again on
  the same port; failed user requests; records the replicas counted as lost
  against the rows actually missing from `requests` (answers - rows).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
from _common import (
    BENCH_DIR,
    HOST,
    SLIPWAY,
    HttpConn,
    Processes,
    free_port,
    http_request,
    install_signal_handlers,
    machine,
    note,
    pct,
    run_async,
    wait_http,
    workdir,
)
from sqlalchemy import make_url
from tests.pg import PostgresServer, find_pg_bin, fresh_schema

PROFILE = """\
model: customer-support-{version}
version: {version}
default:
  labels: [billing, account, shipping, technical]
  accuracy: 1.0
  latency_ms: 1
  output_tokens: 1
categories:
  billing: {{keywords: [refund, invoice]}}
  shipping: {{keywords: [parcel, delivery]}}
"""

BODY = json.dumps(
    {"model": "customer-support", "messages": [{"role": "user", "content": "refund for invoice 4411?"}]},
    separators=(",", ":"),
).encode()

#: The canary's drill clock for the failover part: ten minutes a second.
CLOCK_SCALE = 600
HOLD = "canary:\n  inconclusive: hold\n"


@dataclass
class Opts:
    rollbacks: int = 100
    rate: float = 300.0
    failovers: int = 3
    outage: float = 30.0
    outage_rate: float = 200.0
    idle: float = 60.0
    settle: float = 0.3
    keep: bool = False


# ---------------------------------------------------------------- PostgreSQL


def conninfo(url: str) -> str:
    u = make_url(url)
    text = f"host={u.host} port={u.port} user={u.username} dbname={u.database} application_name=slipway-bench"
    options = u.query.get("options")
    if isinstance(options, str):
        text += f" options='{options}'"
    return text


def sql(url: str, query: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        cur = conn.execute(query)  # fixed text written in this file
        return list(cur.fetchall()) if cur.description else []


@contextlib.contextmanager
def private_postgres() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL binaries not found (run scripts/ci-services, or set SLIPWAY_PG_BIN)")
    server = PostgresServer(bin_dir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------- processes


@dataclass
class Replica:
    name: str
    url: str
    port: int
    proc: subprocess.Popen[bytes]


class Cluster:
    """Sim backends and the replicas started on one store."""

    def __init__(self, procs: Processes, config: Path) -> None:
        self.procs = procs
        self.config = config
        self.count = 0

    def start(self, store: str, extra: list[str] | None = None, env: dict[str, str] | None = None) -> Replica:
        self.count += 1
        name = f"replica-{self.count}"
        port = free_port()
        argv = [SLIPWAY, "serve", "--config", str(self.config), "--port", str(port), "--store", store]
        argv += ["--no-watch", "--log-level", "warning", *(extra or [])]
        proc = self.procs.start(name, argv, env=env)
        url = f"http://{HOST}:{port}"
        wait_http(url + "/healthz", proc, self.procs, name)
        return Replica(name, url, port, proc)

    def stop(self, replicas: list[Replica]) -> None:
        for r in replicas:
            self.procs.stop(r.proc)


def start_sims(procs: Processes) -> dict[str, str]:
    urls = {}
    for slot, version in (("blue", "v2.1"), ("green", "v2.2")):
        profile = procs.workdir / f"sim-{slot}.yaml"
        profile.write_text(PROFILE.format(version=version))
        port = free_port()
        proc = procs.start(
            f"sim-{slot}", [SLIPWAY, "sim", "serve", "--profile", str(profile), "--port", str(port)]
        )
        urls[slot] = f"http://{HOST}:{port}"
        wait_http(urls[slot] + "/v1/models", proc, procs, f"sim-{slot}")
    return urls


def routing_yaml(sims: dict[str, str], active: str, extra: str = "") -> str:
    return (
        f"name: customer-support\nactive_slot: {active}\nslots:\n"
        f'  blue: {{model: customer-support-v2.1, endpoint: "{sims["blue"]}", kind: sim}}\n'
        f'  green: {{model: customer-support-v2.2, endpoint: "{sims["green"]}", kind: sim}}\n'
    ) + extra


def status(url: str, timeout: float = 30) -> dict[str, Any]:
    r = httpx.get(url + "/admin/status", timeout=timeout)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def wait_status(url: str, check: Any, what: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(httpx.HTTPError):
            st = status(url)
            if check(st):
                return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen within {timeout:g} s: {what}")
        time.sleep(0.05)


def live_count(st: dict[str, Any]) -> int:
    return len(st["replicas"]["live"]) if st.get("replicas") else 0


def cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the file)


# ---------------------------------------------------------------- load


@dataclass
class Load:
    """Open-loop Poisson load spread evenly over replicas; every answer kept."""

    ports: list[int]
    rate: float
    #: (replica index, sent, received, slot or "", HTTP status) per answered request.
    answers: list[tuple[int, float, float, str, int]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    #: Per replica, per slot: the latest send time among answered requests.
    latest: list[dict[str, float]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _inflight: set[asyncio.Task[None]] = field(default_factory=set)

    def start(self) -> None:
        self.latest = [{} for _ in self.ports]
        self._tasks = [
            asyncio.create_task(self._run(i, port, random.Random(i))) for i, port in enumerate(self.ports)
        ]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)

    @property
    def ok(self) -> int:
        return sum(1 for a in self.answers if a[4] == 200)

    async def _run(self, i: int, port: int, rng: random.Random) -> None:
        raw = http_request("POST", port, "/v1/chat/completions", BODY)
        idle: list[HttpConn] = []
        rate = self.rate / len(self.ports)

        async def one() -> None:
            while idle and (idle[-1].closed or idle[-1].transport is None or idle[-1].transport.is_closing()):
                idle.pop().close()
            try:
                conn = idle.pop() if idle else await HttpConn.open(HOST, port)
                resp = await asyncio.wait_for(conn.request(raw), 30)
            except Exception as exc:
                self.failures[type(exc).__name__] += 1
                return
            slot = resp.headers.get(b"x-slipway-slot", b"").decode()
            self.answers.append((i, resp.sent_at, resp.done_at, slot, resp.status))
            if resp.status != 200:
                self.failures[f"http_{resp.status}"] += 1
            elif resp.sent_at > self.latest[i].get(slot, 0.0):
                self.latest[i][slot] = resp.sent_at
            idle.append(conn)

        due = time.perf_counter()
        try:
            while True:
                due += rng.expovariate(rate)
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(one())
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)
        finally:
            for conn in idle:
                conn.close()


# ---------------------------------------------------------------- a. rollback propagation


async def propagation(replicas: list[Replica], opts: Opts, label: str) -> dict[str, Any]:
    load = Load([r.port for r in replicas], opts.rate)
    load.start()
    windows: list[tuple[float, float, str, str]] = []
    stuck = 0
    admin_ms: list[float] = []
    try:
        await asyncio.sleep(3)  # connections open, every replica answering
        async with httpx.AsyncClient(timeout=30) as admin:
            for k in range(opts.rollbacks):
                target = replicas[k % len(replicas)]
                t0 = time.perf_counter()
                resp = await admin.post(target.url + "/admin/rollback", json={"reason": f"bench {label} {k}"})
                t1 = time.perf_counter()
                if resp.status_code != 200:
                    raise RuntimeError(f"rollback {k} through {target.name}: {resp.status_code} {resp.text}")
                moved = resp.json()
                admin_ms.append((t1 - t0) * 1000)
                windows.append((t0, t1, moved["from"], moved["to"]))
                deadline = time.monotonic() + 10
                while not all(latest.get(moved["to"], 0.0) > t1 for latest in load.latest):
                    if time.monotonic() > deadline:
                        stuck += 1
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(opts.settle)
                if (k + 1) % 20 == 0:
                    note(f"  {label}: {k + 1}/{opts.rollbacks} rollbacks")
    finally:
        await load.stop()
    by_send: list[float] = []
    by_receive: list[float] = []
    for k, (t0, t1, old, _new) in enumerate(windows):
        end = windows[k + 1][0] if k + 1 < len(windows) else float("inf")
        olds = [a for a in load.answers if t0 <= a[1] < end and a[3] == old]
        by_send.append(max([0.0] + [(a[1] - t1) * 1000 for a in olds]))
        by_receive.append(max([0.0] + [(a[2] - t1) * 1000 for a in olds]))
    latencies = [(a[2] - a[1]) * 1000 for a in load.answers if a[4] == 200]
    return {
        "mode": label,
        "rollbacks": len(windows),
        "not_propagated_within_10s": stuck,
        "requests": len(load.answers) + sum(v for k, v in load.failures.items() if not k.startswith("http_")),
        "ok": load.ok,
        "failed": sum(load.failures.values()),
        "failures": dict(load.failures),
        "request_p50_ms": pct(latencies, 50),
        "request_p99_ms": pct(latencies, 99),
        "admin_call_p50_ms": pct(admin_ms, 50),
        "admin_call_p99_ms": pct(admin_ms, 99),
        "by_send_ms": {"p50": pct(by_send, 50), "p99": pct(by_send, 99), "max": max(by_send, default=0.0)},
        "by_receive_ms": {
            "p50": pct(by_receive, 50),
            "p99": pct(by_receive, 99),
            "max": max(by_receive, default=0.0),
        },
        "each_by_send_ms": [round(x, 2) for x in by_send],
    }


# ---------------------------------------------------------------- b. leader failover


def leader_among(replicas: list[Replica]) -> Replica | None:
    for r in replicas:
        with contextlib.suppress(httpx.HTTPError):
            st = status(r.url, timeout=5)
            if st.get("replicas") and st["replicas"]["leader"] and st["replicas"]["leader"]["this_replica"]:
                return r
    return None


def canary_of(url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(url + "/admin/canary", timeout=10).json()["canary"]
    return data


def failover(cluster: Cluster, store: str, opts: Opts) -> dict[str, Any]:
    env = {"SLIPWAY_CLOCK_SCALE": str(CLOCK_SCALE), "SLIPWAY_CLOCK_ANCHOR": repr(time.time())}
    replicas = [cluster.start(store, env=env) for _ in range(3)]
    wait_status(replicas[0].url, lambda s: live_count(s) == 3, "3 replicas beating")
    body = {"version": "v2.2", "strategy": "canary", "slot": "green", "no_smoke": True}
    body |= {"steps": "10%:100h,100%", "interval": "15m"}
    # Through a follower (the last started), as an operator's call may land on any replica.
    r = httpx.post(replicas[-1].url + "/admin/deploy", json=body, timeout=60)
    deploy_answer = {"status": r.status_code, "body": r.json()}
    if r.status_code != 200:
        # Seen: a 409 "canary changed since revision 1 (now 2)" while the canary did start (the
        # leader finished the deploy's route step at the same moment). Carry on if it runs.
        note(f"  deploy through a follower answered {r.status_code}: {r.text}")
        if (canary_of(replicas[0].url) or {}).get("status") != "running":
            raise RuntimeError(f"deploy: {r.status_code} {r.text}")
    deadline = time.monotonic() + 60
    while canary_of(replicas[0].url)["looks"] < 1:
        if time.monotonic() > deadline:
            raise TimeoutError("the canary made no check within 60 s")
        time.sleep(0.2)
    runs: list[dict[str, Any]] = []
    for n in range(opts.failovers):
        leader = leader_among(replicas)
        if leader is None:
            raise RuntimeError("no replica reports itself leader")
        survivors = [r for r in replicas if r is not leader]
        looks = canary_of(leader.url)["looks"]
        phase = canary_of(leader.url)["phase"]
        killed_at = time.monotonic()
        leader.proc.send_signal(signal.SIGKILL)
        leader.proc.wait(10)
        new: Replica | None = None
        elected_s = checked_s = float("nan")
        while time.monotonic() - killed_at < 60:
            new = leader_among(survivors)
            if new is not None:
                elected_s = time.monotonic() - killed_at
                break
            time.sleep(0.05)
        after: dict[str, Any] = {}
        if new is not None:
            while time.monotonic() - killed_at < 90:
                after = canary_of(new.url)
                if after["looks"] > looks:
                    checked_s = time.monotonic() - killed_at
                    break
                time.sleep(0.05)
        runs.append(
            {
                "run": n + 1,
                "new_leader_s": elected_s,
                "next_canary_check_s": checked_s,
                "canary_after": {k: after.get(k) for k in ("status", "phase", "weight_pct", "looks")},
                "phase_kept": after.get("phase") == phase and after.get("status") == "running",
            }
        )
        note(f"  failover {n + 1}: new leader {elected_s:.2f} s, next canary check {checked_s:.2f} s")
        cluster.procs.stop(leader.proc)
        replicas = [*survivors, cluster.start(store, env=env)]
        wait_status(replicas[0].url, lambda s: live_count(s) == 3, "3 replicas beating again")
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(replicas[0].url + "/admin/rollback", json={"reason": "bench over"}, timeout=30)
    cluster.stop(replicas)
    return {"deploy_answer": deploy_answer, "runs": runs}


# ---------------------------------------------------------------- c. PostgreSQL down


async def outage(cluster: Cluster, server: PostgresServer, store: str, opts: Opts) -> dict[str, Any]:
    replicas = [cluster.start(store) for _ in range(2)]
    await asyncio.to_thread(wait_status, replicas[0].url, lambda s: live_count(s) == 2, "2 replicas beating")
    load = Load([r.port for r in replicas], opts.outage_rate)
    load.start()
    down_s = back_s = float("nan")
    try:
        await asyncio.sleep(5)
        t_down = time.perf_counter()
        await asyncio.to_thread(server.stop_fast)
        down_s = time.perf_counter() - t_down
        await asyncio.sleep(max(0.0, t_down + opts.outage - time.perf_counter()))
        await asyncio.to_thread(server.start_again)
        t_up = time.perf_counter()
        back = await asyncio.gather(
            *(
                asyncio.to_thread(
                    wait_status,
                    r.url,
                    lambda s: s["recorder"]["store_unavailable_since"] is None and s["store_error"] is None,
                    "records written again",
                    120,
                )
                for r in replicas
            )
        )
        back_s = time.perf_counter() - t_up
        assert back
        await asyncio.sleep(5)
    finally:
        await load.stop()
    finals = [
        (
            await asyncio.to_thread(
                wait_status, r.url, lambda s: s["recorder"]["pending"] == 0, "everything written", 120
            )
        )["recorder"]
        for r in replicas
    ]
    cluster.stop(replicas)
    rows = int(sql(store, "SELECT count(*) FROM requests")[0][0])
    lost = sum(sum(f["lost"].values()) for f in finals)
    written = sum(f["written"] for f in finals)
    answered = len(load.answers)  # every answer, errors included, is recorded
    return {
        "outage_s": opts.outage,
        "pg_stop_took_s": down_s,
        "records_written_again_after_s": back_s,
        "requests": answered + sum(v for k, v in load.failures.items() if not k.startswith("http_")),
        "ok": load.ok,
        "failed": sum(load.failures.values()),
        "failures": dict(load.failures),
        "written_counter": written,
        "lost_counter": lost,
        "lost_by_reason": [f["lost"] for f in finals],
        "rows": rows,
        "rows_missing": answered - rows,
        "lost_matches_missing": answered - rows == lost,
        "written_matches_rows": written == rows,
    }


# ---------------------------------------------------------------- d. idle overhead


def idle_overhead(cluster: Cluster, server: PostgresServer, store: str, opts: Opts) -> dict[str, Any]:
    replicas = [cluster.start(store) for _ in range(3)]
    wait_status(replicas[0].url, lambda s: live_count(s) == 3, "3 replicas beating")
    time.sleep(5)  # past start-up
    admin = server.url
    sql(admin, "ALTER SYSTEM SET log_statement = 'all'")
    sql(admin, "ALTER SYSTEM SET log_line_prefix = '%m [%p] app=%a '")
    sql(admin, "SELECT pg_reload_conf()")
    time.sleep(1)
    log_from = server.log.stat().st_size
    xact = "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"
    x0 = int(sql(admin, xact)[0][0])
    cpu0 = {r.name: cpu_ticks(r.proc.pid) for r in replicas}
    t0 = time.perf_counter()
    time.sleep(opts.idle)
    wall = time.perf_counter() - t0
    cpu1 = {r.name: cpu_ticks(r.proc.pid) for r in replicas}
    x1 = int(sql(admin, xact)[0][0])
    with server.log.open("rb") as f:
        f.seek(log_from)
        lines = f.read().decode(errors="replace").splitlines()
    sql(admin, "ALTER SYSTEM RESET log_statement")
    sql(admin, "ALTER SYSTEM RESET log_line_prefix")
    sql(admin, "SELECT pg_reload_conf()")
    statements = Counter[str]()
    for line in lines:
        if "app=slipway-bench" in line:
            continue
        if "LOG:  statement: " in line or "LOG:  execute " in line:
            app = line.split("app=", 1)[1].split(" ", 1)[0] if "app=" in line else "?"
            statements[app or "(none)"] += 1
    hz = os.sysconf("SC_CLK_TCK")
    cpu = {name: (cpu1[name] - cpu0[name]) / hz / wall * 100 for name in cpu0}
    cluster.stop(replicas)
    total = sum(statements.values())
    return {
        "replicas": len(replicas),
        "seconds": wall,
        "statements_per_s": total / wall,
        "statements_per_s_per_replica": total / wall / len(replicas),
        "statements_by_application": dict(statements),
        "transactions_per_s": (x1 - x0) / wall,
        "cpu_pct": cpu,
    }


# ---------------------------------------------------------------- the run


def run_bench(opts: Opts) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with workdir(opts.keep) as tmp, Processes(tmp) as procs, private_postgres() as server:
        sims = start_sims(procs)
        config = tmp / "slipway.yaml"
        config.write_text(routing_yaml(sims, active="green", extra=HOLD))
        cluster = Cluster(procs, config)

        note(f"d. idle overhead: 3 replicas, {opts.idle:g} s")
        with fresh_schema(server.url) as store:
            results["idle"] = idle_overhead(cluster, server, store, opts)

        results["propagation"] = []
        for label, extra in (("notify", []), ("poll-only 1 s", ["--no-route-notify", "--route-poll", "1"])):
            note(f"a. propagation ({label}): 3 replicas, {opts.rate:g} req/s, {opts.rollbacks} rollbacks")
            with fresh_schema(server.url) as store:
                replicas = [cluster.start(store, extra) for _ in range(3)]
                wait_status(replicas[0].url, lambda s: live_count(s) == 3, "3 replicas beating")
                results["propagation"].append(run_async(propagation(replicas, opts, label)))
                cluster.stop(replicas)

        note(f"b. leader failover: {opts.failovers} kill -9 of the leader during a canary")
        config.write_text(routing_yaml(sims, active="blue", extra=HOLD))
        with fresh_schema(server.url) as store:
            results["failover"] = failover(cluster, store, opts)

        note(f"c. PostgreSQL down {opts.outage:g} s under {opts.outage_rate:g} req/s, 2 replicas")
        config.write_text(routing_yaml(sims, active="green", extra=HOLD))
        with fresh_schema(server.url) as store:
            results["outage"] = run_async(outage(cluster, server, store, opts))
    return results


def _ms(x: float) -> str:
    return f"{x:.1f}"


def targets(results: dict[str, Any]) -> dict[str, bool]:
    prop = {p["mode"]: p for p in results["propagation"]}
    notify, poll = prop["notify"], prop["poll-only 1 s"]
    runs = results["failover"]["runs"]
    out = results["outage"]
    return {
        "propagation p99 <= 100 ms with notifications, 0 failed": notify["by_send_ms"]["p99"] <= 100
        and notify["failed"] == 0,
        "propagation p99 <= 1.5 s poll-only, 0 failed": poll["by_send_ms"]["p99"] <= 1500
        and poll["failed"] == 0,
        "new leader within 10 s": all(r["new_leader_s"] <= 10 for r in runs),
        "0 failed user requests with PostgreSQL down": out["failed"] == 0,
        "records lost = the counter exactly": out["lost_matches_missing"],
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| rollback propagation (3 replicas) | rollbacks | requests | failed | p50 | p99 | max "
        "| p99 by receive | admin call p50 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in results["propagation"]:
        s, r = p["by_send_ms"], p["by_receive_ms"]
        lines.append(
            f"| {p['mode']} | {p['rollbacks']} | {p['requests']} | {p['failed']} | {_ms(s['p50'])} ms "
            f"| {_ms(s['p99'])} ms | {_ms(s['max'])} ms | {_ms(r['p99'])} ms "
            f"| {_ms(p['admin_call_p50_ms'])} ms |"
        )
    lines += [
        "",
        "| leader failover (kill -9) | new leader | next canary check | phase kept |",
        "|---|---|---|---|",
    ]
    for run in results["failover"]["runs"]:
        lines.append(
            f"| run {run['run']} | {run['new_leader_s']:.2f} s | {run['next_canary_check_s']:.2f} s "
            f"| {'yes' if run['phase_kept'] else 'no'} |"
        )
    o = results["outage"]
    lines += [
        "",
        "| PostgreSQL down | requests | failed | written (counter) | rows | rows missing | lost (counter) |",
        "|---|---|---|---|---|---|---|",
        f"| {o['outage_s']:g} s, 2 replicas | {o['requests']} | {o['failed']} | {o['written_counter']} "
        f"| {o['rows']} | {o['rows_missing']} | {o['lost_counter']} |",
    ]
    i = results["idle"]
    cpu = ", ".join(f"{v:.2f} %" for v in i["cpu_pct"].values())
    lines += [
        "",
        "| idle, 3 replicas | statements/s (per replica) | transactions/s | CPU per replica |",
        "|---|---|---|---|",
        f"| {i['seconds']:.0f} s | {i['statements_per_s']:.1f} ({i['statements_per_s_per_replica']:.1f}) "
        f"| {i['transactions_per_s']:.1f} | {cpu} |",
        "",
        "| target | met |",
        "|---|---|",
    ]
    lines += [f"| {k} | {'yes' if v else 'NO'} |" for k, v in results["met"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="replicas on one PostgreSQL (see the module docstring)")
    parser.add_argument("--quick", action="store_true", help="small sizes: checks the script works")
    parser.add_argument("--rollbacks", type=int, help="rollbacks per propagation mode (100)")
    parser.add_argument("--rate", type=float, help="req/s across 3 replicas during rollbacks (300)")
    parser.add_argument("--failovers", type=int, help="kill -9 of the leader (3)")
    parser.add_argument("--outage", type=float, help="seconds PostgreSQL is down (30)")
    parser.add_argument("--outage-rate", type=float, help="req/s across 2 replicas during the outage (200)")
    parser.add_argument("--idle", type=float, help="seconds of the idle window (60)")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<time>-replicas.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = parser.parse_args()
    install_signal_handlers()
    opts = (
        Opts(rollbacks=10, rate=100, failovers=1, outage=8, outage_rate=50, idle=10) if args.quick else Opts()
    )
    for name in ("rollbacks", "rate", "failovers", "outage", "outage_rate", "idle"):
        if getattr(args, name) is not None:
            setattr(opts, name, getattr(args, name))
    opts.keep = args.keep
    started = time.time()
    results: dict[str, Any] = {
        "machine": machine(),
        "opts": opts.__dict__,
        "loadavg_before": ", ".join(f"{x:.2f}" for x in psutil.getloadavg()),
    }
    results.update(run_bench(opts))
    results["met"] = targets(results)
    results["loadavg_after"] = ", ".join(f"{x:.2f}" for x in psutil.getloadavg())
    results["seconds"] = round(time.time() - started, 1)
    out = args.out or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-replicas.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))
    note(f"\nresults: {out}")


if __name__ == "__main__":
    main()
