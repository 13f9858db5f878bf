"""Issue #5's number for shadow mode: what mirroring every request costs the user's request.

    python bench/shadow_mirror.py              # ~6 min; writes bench/results/<time>-shadow_mirror.json
    python bench/shadow_mirror.py --quick      # shorter runs: checks the script works, numbers are rough
    python bench/shadow_mirror.py --rounds 5 --keep

Target (issue #5): main-path p50 / p99 with 100 % mirroring vs without, at
most +0.2 ms / +1 ms, also when the candidate is 2 s slow or down.

Side by side in one run, each a real `slipway serve` subprocess with its own
SQLite store (recording on), production slot `blue` on the nginx zero-cost
backend (`_common.ZERO_BODY`), candidate slot `green`:

* `direct`     — the zero-cost backend itself, for reference;
* `no-shadow`  — the baseline: the same config, no shadow run;
* `fast`       — `POST /admin/deploy --strategy shadow --sample 100%` to a
  fast candidate (a second nginx answering at once);
* `slow`       — the same to a candidate that answers every POST after 2 s
  (`bench/sse_backend.py --delay-ms 2000`), default mirror limits
  (32 copies in flight, queue 1,000: at 200 req/s most copies are dropped,
  by design, and counted);
* `slow-c512`  — the same 2 s candidate with `shadow.mirror.concurrency: 512`,
  enough for every copy at 200 req/s (400 copies in flight at once);
* `down`       — a candidate that passed the deploy's health check and was
  then killed (connections refused).

Load, per target, in rounds whose order rotates:

* **open loop**: Poisson arrivals at `--rate` (200) non-streaming chat
  requests/s for `--seconds` (10), the same arrival times for every target in
  a round, keep-alive connections from a pool (`_common.HttpConn`); latency
  from the request written to the response read;
* **closed loop**: `wrk -t1 -c1` (one request in flight, back to back: every
  request's mirror work overlaps the next request).

"added" is a shadow gateway minus `no-shadow` within a round, median over
rounds. Every response must come from `blue`; the mirror's counters
(`/admin/status`, and `GET /admin/shadow` at the end) show per window how many
copies were offered, sent, dropped, failed and paired, so a mirror that did
nothing cannot pass unnoticed. Gateway CPU per request (psutil, the whole
process tree) shows what the mirror's work costs the process whose event loop
it shares with the main path.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import math
import random
import socket
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _common
import psutil
from _common import (
    BENCH_DIR,
    HOST,
    PYTHON,
    REQUEST_BODY,
    ZERO_BODY,
    Gateway,
    HttpConn,
    Meter,
    Processes,
    check_chat,
    free_port,
    get_json,
    http_request,
    install_signal_handlers,
    machine,
    median,
    note,
    pct,
    run_async,
    slipway_config,
    start_nginx,
    start_slipway,
    wait_http,
    workdir,
    wrk,
)
from gateway import rotated, tree_cpu

TARGETS = {"added_p50_ms": 0.2, "added_p99_ms": 1.0}
SHADOWED = ("fast", "slow", "slow-c512", "down")
MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}, separators=(",", ":"))

CANDIDATE_NGINX = """\
daemon off;
master_process on;
worker_processes 1;
pid @PREFIX@/nginx.pid;
error_log @PREFIX@/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    tcp_nodelay on;
    client_body_temp_path @PREFIX@/tmp/client_body;
    proxy_temp_path @PREFIX@/tmp/proxy;
    fastcgi_temp_path @PREFIX@/tmp/fastcgi;
    uwsgi_temp_path @PREFIX@/tmp/uwsgi;
    scgi_temp_path @PREFIX@/tmp/scgi;
    # The fast candidate: lists one model (the deploy's health check), answers every POST at once.
    server {
        listen 127.0.0.1:@PORT@ reuseport backlog=4096;
        location = /v1/models { default_type application/json; return 200 '@MODELS@'; }
        location / { default_type application/json; return 200 '@BODY@'; }
    }
}
"""


@dataclass
class Opts:
    rounds: int = 3
    rate: float = 200.0
    seconds: float = 10.0
    c1_seconds: float = 4.0
    warmup_s: float = 2.0
    slow_ms: float = 2000.0
    closed_loop: bool = True
    keep: bool = False

    @classmethod
    def quick(cls) -> Opts:
        return cls(rounds=2, seconds=3.0, c1_seconds=2.0, warmup_s=1.0)


# ---------------------------------------------------------------- servers


def start_candidate_nginx(procs: Processes) -> str:
    port = free_port()
    prefix = procs.workdir / "candidate-nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").chmod(0o777)
    text = CANDIDATE_NGINX
    for key, value in {"PREFIX": str(prefix), "PORT": str(port), "MODELS": MODELS, "BODY": ZERO_BODY}.items():
        text = text.replace(f"@{key}@", value)
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    argv = ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    proc = procs.start("candidate-nginx", argv)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/v1/models", proc, procs, "candidate-nginx")
    return url


def start_backend(procs: Processes, name: str, delay_ms: float) -> tuple[str, Any]:
    port = free_port()
    argv = [PYTHON, str(BENCH_DIR / "sse_backend.py"), "--port", str(port), "--delay-ms", str(delay_ms)]
    proc = procs.start(name, argv)
    url = f"http://{HOST}:{port}"
    wait_http(url + "/v1/models", proc, procs, name)
    return url, proc


def post_json(url: str, body: dict[str, Any], timeout: float = 60) -> Any:
    import urllib.request

    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-slipway-actor": "bench"},
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def deploy_shadow(gw: Gateway) -> dict[str, Any]:
    body = {"version": "v2.2", "strategy": "shadow", "slot": "green", "no_smoke": True, "sample": "100%"}
    out = post_json(gw.url + "/admin/deploy", body)
    route = get_json(gw.url + "/admin/status")["route"]
    mirror = route.get("mirror") or {}
    if (
        out["shadow"]["status"] != "running"
        or mirror.get("slot") != "green"
        or mirror.get("sample_pct") != 100
    ):
        raise RuntimeError(f"{gw.name}: the shadow did not start: {out} / route {route}")
    return {"deployment": out["deployment"]["id"], "route_mirror": mirror}


def refused(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as sock:
        sock.settimeout(2)
        try:
            sock.connect((host, int(port)))
        except ConnectionRefusedError:
            return True
        except OSError:
            return False
    return False


def mirror_stats(gw: Gateway) -> dict[str, int]:
    """The mirror's counters (cheap: `/admin/status`, not the pair-reading `/admin/shadow`)."""
    shadow = get_json(gw.url + "/admin/status").get("shadow")
    return dict(shadow["mirror"]) if shadow else {}


# ---------------------------------------------------------------- load


async def open_loop(port: int, *, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Poisson arrivals at `rate`/s; latency from the request written to the whole response read."""
    raw = http_request("POST", port, "/v1/chat/completions", REQUEST_BODY.encode())
    idle = [await HttpConn.open(HOST, port) for _ in range(8)]
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    late: list[float] = []
    failures: Counter[str] = Counter()
    slots: Counter[str] = Counter()
    tasks: set[asyncio.Task[None]] = set()
    in_flight = peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        while idle and (idle[-1].closed or idle[-1].transport is None or idle[-1].transport.is_closing()):
            idle.pop().close()
        conn = idle.pop() if idle else await HttpConn.open(HOST, port)
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            resp = await asyncio.wait_for(conn.request(raw), 10)
        except Exception as exc:
            failures[type(exc).__name__] += 1
            conn.close()
            return
        finally:
            in_flight -= 1
        latencies.append((resp.done_at - resp.sent_at) * 1000)
        if resp.status != 200:
            failures[f"http_{resp.status}"] += 1
        slots[resp.headers.get(b"x-slipway-slot", b"(none)").decode()] += 1
        idle.append(conn)

    start = time.perf_counter() + 0.02
    at = 0.0
    while at < seconds:
        due = start + at
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        late.append((time.perf_counter() - due) * 1000)
        task = loop.create_task(one())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        at += rng.expovariate(rate)
    wall = time.perf_counter() - start
    if tasks:
        await asyncio.gather(*tasks)
    for conn in idle:
        conn.close()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / wall,
        "errors": sum(failures.values()),
        "failures": dict(failures),
        "slots": dict(slots),
        "p50_ms": pct(latencies, 50),
        "p90_ms": pct(latencies, 90),
        "p99_ms": pct(latencies, 99),
        "p999_ms": pct(latencies, 99.9),
        "max_ms": max(latencies, default=math.nan),
        "mean_ms": sum(latencies) / len(latencies) if latencies else math.nan,
        "peak_in_flight": peak,
        "send_late_p99_ms": pct(late, 99),
    }


# ---------------------------------------------------------------- the run


def measure(
    name: str,
    run: Any,
    *,
    gateways: dict[str, Gateway],
    pids: dict[str, int],
    wait: bool = True,
) -> dict[str, Any]:
    """One window on one target, with the mirror counters and everyone's CPU around it.

    `wait`: wait for other processes to go quiet first (`wrk()` does that itself).
    """
    gw = gateways.get(name)
    before = mirror_stats(gw) if gw is not None and name in SHADOWED else {}
    quiet = _common.wait_quiet() if wait else None
    meter = Meter()
    t0 = time.perf_counter()
    cpu0 = {n: tree_cpu(pid) for n, pid in pids.items()}
    started = time.time()
    result: dict[str, Any] = run()
    result["window"] = (started, time.time())
    wall = time.perf_counter() - t0
    cpu = {n: (tree_cpu(pid) - cpu0[n]) for n, pid in pids.items()}
    result.update(meter.stop())
    if quiet is not None:
        result["background_before_pct"] = quiet
    result["window_s"] = wall
    if gw is not None:
        result["gateway_cpu_pct"] = cpu[name] / wall * 100
        result["gateway_cpu_us_per_request"] = cpu[name] / max(1, result["requests"]) * 1e6
    # Work the other processes did meanwhile (a slow mirror still draining its queue, a writer).
    result["others_cpu_pct"] = {n: round(c / wall * 100, 1) for n, c in cpu.items() if n != name}
    if before:
        after = mirror_stats(gw)  # type: ignore[arg-type]
        result["mirror"] = {k: after[k] - before.get(k, 0) for k in after if k != "queued"}
        result["mirror"]["queued_after"] = after["queued"]
    return result


def run_bench(opts: Opts) -> dict[str, Any]:
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        note("== shadow mirror: starting backends and gateways")
        ng = start_nginx(procs)
        production = ng.url(ng.zero)
        fast_url = start_candidate_nginx(procs)
        slow_url, slow_proc = start_backend(procs, "slow-candidate", opts.slow_ms)
        down_url, down_proc = start_backend(procs, "down-candidate", 0)
        candidates = {
            "no-shadow": fast_url,
            "fast": fast_url,
            "slow": slow_url,
            "slow-c512": slow_url,
            "down": down_url,
        }
        gateways: dict[str, Gateway] = {}
        deployments: dict[str, Any] = {}
        for name, candidate in candidates.items():
            config = slipway_config({"blue": production, "green": candidate}, active="blue")
            if name == "slow-c512":
                config += "shadow:\n  mirror: {concurrency: 512}\n"
            gateways[name] = gw = start_slipway(procs, name, config)
            check_chat(gw.url)
            if name in SHADOWED:
                deployments[name] = deploy_shadow(gw)
                note(f"  {name:10} shadow running: {deployments[name]['route_mirror']}")
        procs.stop(down_proc)
        if not refused(down_url):
            raise RuntimeError("the down candidate still accepts connections")
        note("  down-candidate killed: connections refused")
        pids = {name: gw.proc.pid for name, gw in gateways.items()}
        pids["slow-candidate"] = slow_proc.pid
        ports = {"direct": ng.zero, **{name: gw.port for name, gw in gateways.items()}}
        urls = {"direct": production, **{name: gw.url for name, gw in gateways.items()}}
        for name in ports:
            check_chat(urls[name])
            run_async(open_loop(ports[name], rate=opts.rate, seconds=opts.warmup_s, seed=0))
            if opts.closed_loop:
                wrk(urls[name], connections=1, seconds=1, workdir=tmp)

        open_rounds: list[dict[str, dict[str, Any]]] = []
        for r in range(opts.rounds):
            row = {}
            for name in rotated(list(ports), r):

                def go(name: str = name, seed: int = r + 1) -> dict[str, Any]:
                    return run_async(open_loop(ports[name], rate=opts.rate, seconds=opts.seconds, seed=seed))

                row[name] = res = measure(name, go, gateways=gateways, pids=pids)
                m = res.get("mirror")
                note(
                    f"  open round {r + 1} {name:10} p50 {res['p50_ms']:.3f} p99 {res['p99_ms']:.3f} ms, "
                    f"{res['requests']} req, {res['errors']} errors"
                    + (
                        f"; mirror sent {m['sent']} pairs {m['pairs']} dropped {m['dropped']} "
                        f"cand.errors {m['candidate_errors']} queued {m['queued_after']}"
                        if m
                        else ""
                    )
                    + f"; background {res['background_cpu_pct']:.0f} %"
                )
                time.sleep(0.3)
            open_rounds.append(row)

        closed_rounds: list[dict[str, dict[str, Any]]] = []
        for r in range(opts.rounds if opts.closed_loop else 0):
            row = {}
            for name in rotated(list(ports), r + 1):

                def go_wrk(name: str = name) -> dict[str, Any]:
                    return wrk(urls[name], connections=1, seconds=opts.c1_seconds, workdir=tmp)

                row[name] = res = measure(name, go_wrk, gateways=gateways, pids=pids, wait=False)
                m = res.get("mirror")
                note(
                    f"  c=1  round {r + 1} {name:10} p50 {res['p50_ms']:.3f} p99 {res['p99_ms']:.3f} ms, "
                    f"{res['rps']:.0f} req/s"
                    + (
                        f"; mirror sent {m['sent']} pairs {m['pairs']} dropped {m['dropped']} "
                        f"cand.errors {m['candidate_errors']}"
                        if m
                        else ""
                    )
                )
                time.sleep(0.3)
            closed_rounds.append(row)

        time.sleep(1.0)  # the recorder and the pair writer flush every 0.25 s
        for rounds in (open_rounds, closed_rounds):
            add_gateway_latency(rounds, tmp)
        shadow = {}
        for name in SHADOWED:
            try:
                shadow[name] = _shadow_view(gateways[name])
            except Exception as exc:  # reported, not fatal: the per-window counters are still there
                shadow[name] = {"error": f"{type(exc).__name__}: {exc}"}
        status = {name: get_json(gw.url + "/admin/status") for name, gw in gateways.items()}
        rss = {
            name: round(psutil.Process(gw.server_pid).memory_info().rss / 2**20, 1)
            for name, gw in gateways.items()
        }
    return summarize(opts, open_rounds, closed_rounds, shadow, status, rss, deployments)


def add_gateway_latency(rounds: list[dict[str, dict[str, Any]]], tmp: Path) -> None:
    """The gateway's own view of each window: its records' `latency_ms` (request read → answer sent).

    Client-measured latency also holds the client's and the kernel's share, and on
    two shared cores the mirror's work in *other* processes (the candidate, loopback
    TCP) competes with the client too; the records tell what happened inside the gateway.
    """
    for row in rounds:
        for name, res in row.items():
            db_path = tmp / name / "state.db"
            if not db_path.exists():
                continue
            with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)) as db:
                query = "select latency_ms from requests where started_at between ? and ?"
                lat = [float(x) for (x,) in db.execute(query, res["window"])]
            res["gw_requests"] = len(lat)
            res["gw_p50_ms"], res["gw_p99_ms"] = pct(lat, 50), pct(lat, 99)


def _shadow_view(gw: Gateway) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(gw.url + "/admin/shadow", timeout=300) as resp:
        data = json.loads(resp.read())
    return {
        "pairs": data["pairs"],
        "status": (data.get("shadow") or {}).get("status"),
        "mirror": data["mirror"],
    }


# ---------------------------------------------------------------- summary

QUANTILES = ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "mean_ms", "gw_p50_ms", "gw_p99_ms")


def _summary(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, Any]:
    if not rounds:
        return {}
    names = list(rounds[0])
    out: dict[str, Any] = {}
    for name in names:
        row: dict[str, Any] = {
            q: median([r[name].get(q, math.nan) for r in rounds]) for q in (*QUANTILES, "rps")
        }
        row["errors"] = sum(r[name]["errors"] for r in rounds)
        row["requests"] = sum(r[name]["requests"] for r in rounds)
        if "gateway_cpu_us_per_request" in rounds[0][name]:
            row["gateway_cpu_us_per_request"] = median(
                [r[name]["gateway_cpu_us_per_request"] for r in rounds]
            )
            row["gateway_cpu_pct"] = median([r[name]["gateway_cpu_pct"] for r in rounds])
        if "mirror" in rounds[0][name]:
            row["mirror"] = {k: sum(r[name]["mirror"][k] for r in rounds) for k in rounds[0][name]["mirror"]}
            row["mirror"]["queued_after"] = rounds[-1][name]["mirror"]["queued_after"]
        if "slots" in rounds[0][name]:
            slots: Counter[str] = Counter()
            for r in rounds:
                slots.update(r[name]["slots"])
            row["slots"] = dict(slots)
        out[name] = row
    for name in SHADOWED:
        out[name]["added_ms"] = {
            q: median([r[name][q] - r["no-shadow"][q] for r in rounds])
            for q in ("p50_ms", "p99_ms", "mean_ms", "gw_p50_ms", "gw_p99_ms")
        }
        out[name]["added_cpu_us_per_request"] = median(
            [
                r[name]["gateway_cpu_us_per_request"] - r["no-shadow"]["gateway_cpu_us_per_request"]
                for r in rounds
            ]
        )
    out["no-shadow"]["added_over_direct_ms"] = {
        q: median([r["no-shadow"][q] - r["direct"][q] for r in rounds]) for q in ("p50_ms", "p99_ms")
    }
    out["background_cpu_pct_max"] = max(r[n]["background_cpu_pct"] for r in rounds for n in names)
    return out


def summarize(
    opts: Opts,
    open_rounds: list[dict[str, dict[str, Any]]],
    closed_rounds: list[dict[str, dict[str, Any]]],
    shadow: dict[str, Any],
    status: dict[str, Any],
    rss: dict[str, float],
    deployments: dict[str, Any],
) -> dict[str, Any]:
    open_s = _summary(open_rounds)
    closed_s = _summary(closed_rounds)
    met: dict[str, bool] = {}
    for name in SHADOWED:
        added = open_s[name]["added_ms"]
        met[f"open.{name}.p50"] = added["p50_ms"] <= TARGETS["added_p50_ms"]
        met[f"open.{name}.p99"] = added["p99_ms"] <= TARGETS["added_p99_ms"]
        if closed_s:
            added = closed_s[name]["added_ms"]
            met[f"c1.{name}.p50"] = added["p50_ms"] <= TARGETS["added_p50_ms"]
            met[f"c1.{name}.p99"] = added["p99_ms"] <= TARGETS["added_p99_ms"]
    users_saw_production_only = all(
        set(open_s[name]["slots"]) == {"blue"} and open_s[name]["errors"] == 0
        for name in ["no-shadow", *SHADOWED]
    )
    mirror_ran = {
        "fast": shadow.get("fast", {}).get("mirror", {}).get("pairs", 0) > 0
        and open_s["fast"]["mirror"]["dropped"] == 0
        and open_s["fast"]["mirror"]["candidate_errors"] == 0,
        "slow": open_s["slow"]["mirror"]["sent"] > 0,
        "slow-c512": open_s["slow-c512"]["mirror"]["sent"] > 0,
        "down": open_s["down"]["mirror"]["candidate_errors"] > 0,
    }
    return {
        "targets": TARGETS,
        "opts": opts.__dict__,
        "deployments": deployments,
        "open": {"rounds": open_rounds, "summary": open_s},
        "closed_c1": {"rounds": closed_rounds, "summary": closed_s},
        "shadow_status": shadow,
        "recorder": {name: s["recorder"] for name, s in status.items()},
        "rss_mb_after": rss,
        "users_saw_production_only": users_saw_production_only,
        "mirror_ran": mirror_ran,
        "met": met,
    }


MIRROR_KEYS = ("offered", "sent", "pairs", "dropped", "candidate_errors")


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _added(value: float, target: float) -> str:
    text = f"{value:+.3f}"
    return text if value <= target else f"**{text}** (missed)"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    opts = results["opts"]
    out = [
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['kernel']}, "
        f"{m['virtualization']}, {m['python']}, {m['nginx']}; run {m['date']}, "
        f"load average before {results['loadavg_before']}, after {results['loadavg_after']}; "
        f"{results['seconds']:.0f} s.",
        "",
    ]
    for key, title in (
        (
            "open",
            f"open loop, Poisson {opts['rate']:g} req/s, {opts['seconds']:g} s × {opts['rounds']} rounds",
        ),
        ("closed_c1", f"closed loop, wrk -c1, {opts['c1_seconds']:g} s × {opts['rounds']} rounds"),
    ):
        s = results[key]["summary"]
        if not s:
            continue
        out.append(f"{title}:")
        out.append("")
        out.append(
            "| target | req/s | p50 (ms) | p99 (ms) | p99.9 (ms) | added p50 (≤ 0.2) | added p99 (≤ 1) "
            "| added inside the gateway p50 / p99 | gateway CPU µs/req "
            "| mirror: offered / sent / pairs / dropped / cand. errors |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for name in ("direct", "no-shadow", *SHADOWED):
            row = s[name]
            added = row.get("added_ms")
            mir = row.get("mirror")
            cells = [name, _f(row["rps"], 0), _f(row["p50_ms"]), _f(row["p99_ms"]), _f(row["p999_ms"])]
            cells += [_added(added["p50_ms"], 0.2), _added(added["p99_ms"], 1.0)] if added else ["", ""]
            cells.append(f"{added['gw_p50_ms']:+.3f} / {added['gw_p99_ms']:+.3f}" if added else "")
            cells.append(_f(row.get("gateway_cpu_us_per_request"), 0))
            cells.append(" / ".join(_f(mir[k]) for k in MIRROR_KEYS) if mir else "")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    out.append("`GET /admin/shadow` at the end (whole run, warm-up included):")
    out.append("")
    out.append("| gateway | pairs | sent | dropped | candidate errors | skipped (down) | queued |")
    out.append("|---|---|---|---|---|---|---|")
    for name, view in results["shadow_status"].items():
        if "error" in view:
            out.append(f"| {name} | {view['error']} | | | | | |")
            continue
        mm = view["mirror"]
        cells = [name, _f(view["pairs"]), *(_f(mm[k]) for k in ("sent", "dropped", "candidate_errors"))]
        cells += [_f(mm["skipped_down"]), _f(mm["queued"])]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description="shadow mode's main-path cost (issue #5; see bench/README.md)"
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check, not numbers)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds")
    parser.add_argument("--rate", type=float, help="open-loop requests/s (200)")
    parser.add_argument("--seconds", type=float, help="open-loop window per target and round (10)")
    parser.add_argument("--no-closed-loop", action="store_true", help="skip the wrk -c1 rounds")
    parser.add_argument(
        "--max-wait",
        type=float,
        default=60.0,
        help="longest wait for other processes to go quiet before a window",
    )
    parser.add_argument(
        "--out", type=Path, help="results JSON (default bench/results/<time>-shadow_mirror.json)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary directory (logs, configs, stores)"
    )
    args = parser.parse_args()
    install_signal_handlers()
    opts = Opts.quick() if args.quick else Opts()
    opts.rounds = args.rounds or opts.rounds
    opts.rate = args.rate or opts.rate
    opts.seconds = args.seconds or opts.seconds
    opts.closed_loop = not args.no_closed_loop
    opts.keep = args.keep
    # wrk() and measure() wait for quiet through the module attribute: one place to bound the wait.
    _common.wait_quiet = functools.partial(_common.wait_quiet, max_wait_s=args.max_wait)
    started = time.time()
    loadavg_before = ", ".join(f"{x:.2f}" for x in psutil.getloadavg())
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "loadavg_before": loadavg_before}
    results.update(run_bench(opts))
    results["loadavg_after"] = ", ".join(f"{x:.2f}" for x in psutil.getloadavg())
    results["seconds"] = round(time.time() - started, 1)
    out = args.out or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-shadow_mirror.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))
    note(f"\nresults: {out}")
    if not results["users_saw_production_only"]:
        note("a user got an error or an answer not from production")
    not_ran = [k for k, v in results["mirror_ran"].items() if not v]
    if not_ran:
        note("the mirror did not do its work for: " + ", ".join(not_ran))
    missed = [k for k, v in results["met"].items() if not v]
    if missed:
        note("targets missed: " + ", ".join(missed))
    sys.exit(0)


if __name__ == "__main__":
    main()
