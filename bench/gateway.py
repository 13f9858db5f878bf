"""slipway gateway benchmarks (issue #2): direct vs nginx vs slipway, side by side in one run.

    python bench/gateway.py all              # everything; writes bench/results/<time>.json, prints markdown
    python bench/gateway.py latency          # or one measurement: latency, throughput, streaming,
                                             # rollback, stack, clients
    python bench/gateway.py all --quick      # shorter runs, for a smoke check of the scripts

Every measurement starts its own servers (Debian's nginx in a temporary
prefix, `slipway serve` subprocesses, a purpose-written SSE backend) on
127.0.0.1 and stops them when it ends. On a small, noisy machine absolute
numbers drift from run to run; the targets are therefore judged on what
slipway adds over the direct path measured in the same rounds, interleaved.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from _common import (
    BENCH_DIR,
    HOST,
    PYTHON,
    REQUEST_BODY,
    STREAM_BODY,
    HttpConn,
    Meter,
    Processes,
    RssSampler,
    check_chat,
    free_port,
    get_json,
    http_request,
    install_signal_handlers,
    machine,
    median,
    mib,
    note,
    pct,
    run_async,
    slipway_config,
    start_nginx,
    start_slipway,
    wait_http,
    wait_quiet,
    workdir,
    wrk,
)

TARGETS = {
    "latency_added_p50_ms": 0.3,
    "latency_added_p99_ms": 1.0,
    "throughput_rps": 3000,
    "ttft_added_p99_ms": 2.0,
    "rollback_failed": 0,
    "switch_effective_ms": 50.0,
    "rss_mb_at_256_streams": 150.0,
}


@dataclass
class Opts:
    rounds: int = 3
    latency_s: float = 5.0
    throughput_s: float = 8.0
    throughput_connections: int = 64
    stream_s: float = 6.0
    streams: int = 256
    chunks: int = 64
    interval_ms: float = 20.0
    switches: int = 100
    rate: float = 200.0
    switch_gap_s: float = 0.1
    stack_s: float = 4.0
    clients_s: float = 4.0
    keep: bool = False

    @classmethod
    def quick(cls) -> Opts:
        return cls(
            rounds=2,
            latency_s=2.0,
            throughput_s=3.0,
            stream_s=2.5,
            switches=20,
            stack_s=2.0,
            clients_s=1.5,
        )


def rotated(items: list[str], r: int) -> list[str]:
    """A different order each round, so no target always runs first (or right after a heavy one)."""
    k = r % len(items)
    return items[k:] + items[:k]


def tree_cpu(pid: int) -> float:
    """CPU seconds used so far by `pid` and its children."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            times = proc.cpu_times()
            total += times.user + times.system
    except psutil.Error:
        pass
    return total


def summarize(rounds: list[dict[str, dict[str, Any]]], keys: list[str]) -> dict[str, dict[str, float]]:
    """Median over rounds of each metric, per target."""
    names = rounds[0].keys()
    return {name: {k: median([r[name][k] for r in rounds]) for k in keys} for name in names}


# ---------------------------------------------------------------- 1. added latency, one in flight


def bench_latency(opts: Opts) -> dict[str, Any]:
    note("== latency: one request in flight, non-streaming (wrk -c1)")
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        gw = start_slipway(procs, "slipway", slipway_config({"blue": ng.url(ng.zero)}, active="blue"))
        targets = {"direct": ng.url(ng.zero), "nginx": ng.url(ng.proxy), "slipway": gw.url}
        for url in targets.values():
            check_chat(url)
        for url in targets.values():
            wrk(url, connections=1, seconds=1, workdir=tmp)
        rounds = []
        for r in range(opts.rounds):
            row = {}
            for name in rotated(list(targets), r):
                row[name] = res = wrk(targets[name], connections=1, seconds=opts.latency_s, workdir=tmp)
                note(f"  round {r + 1} {name:8} p50 {res['p50_ms']:.3f} ms p99 {res['p99_ms']:.3f} ms")
            rounds.append(row)
    keys = ["p50_ms", "p90_ms", "p99_ms", "p999_ms", "rps", "errors"]
    summary = summarize(rounds, keys)
    added = {
        via: {
            q: median([r[via][q] - r["direct"][q] for r in rounds]) for q in ("p50_ms", "p99_ms", "p999_ms")
        }
        for via in ("nginx", "slipway")
    }
    met = {
        "added_p50": added["slipway"]["p50_ms"] <= TARGETS["latency_added_p50_ms"],
        "added_p99": added["slipway"]["p99_ms"] <= TARGETS["latency_added_p99_ms"],
    }
    return {"rounds": rounds, "summary": summary, "added_ms": added, "met": met}


# ---------------------------------------------------------------- 2. throughput, 95/5, recording on


def bench_throughput(opts: Opts) -> dict[str, Any]:
    conns = opts.throughput_connections
    note(f"== throughput: two slots 95/5, recording on (SQLite), wrk -c{conns}")
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        config = slipway_config(
            {"blue": ng.url(ng.zero), "green": ng.url(ng.zero2)},
            active="blue",
            weights={"blue": 95, "green": 5},
        )
        gw = start_slipway(procs, "slipway", config)
        targets = {"direct": ng.url(ng.zero), "nginx": ng.url(ng.proxy), "slipway": gw.url}
        for url in targets.values():
            check_chat(url)
        for url in targets.values():
            wrk(url, connections=conns, seconds=2, workdir=tmp)
        rounds = []
        for r in range(opts.rounds):
            row = {}
            for name in rotated(list(targets), r):
                cpu0 = tree_cpu(gw.proc.pid)
                result = wrk(targets[name], connections=conns, seconds=opts.throughput_s, workdir=tmp)
                if name == "slipway":
                    result["gateway_cpu_pct"] = (tree_cpu(gw.proc.pid) - cpu0) / opts.throughput_s * 100
                row[name] = result
                note(f"  round {r + 1} {name:8} {result['rps']:8.0f} req/s p99 {result['p99_ms']:.2f} ms")
            rounds.append(row)
        sweep = {}
        for c in (8, 256):
            sweep[c] = wrk(gw.url, connections=c, seconds=max(2.0, opts.throughput_s / 2), workdir=tmp)
            note(f"  sweep slipway c={c:<4} {sweep[c]['rps']:8.0f} req/s")
        sweep[conns] = {
            "rps": median([r["slipway"]["rps"] for r in rounds]),
            "p99_ms": median([r["slipway"]["p99_ms"] for r in rounds]),
        }
        time.sleep(1.0)  # the recorder writes every 0.25 s
        status = get_json(gw.url + "/admin/status")
        rss = psutil.Process(gw.server_pid).memory_info().rss
    recorder = status["recorder"]
    served = {s["name"]: s["requests_5m"] for s in status["slots"]}
    total = sum(served.values())
    summary = summarize(rounds, ["rps", "p50_ms", "p99_ms", "errors"])
    summary["slipway"]["gateway_cpu_pct"] = median([r["slipway"]["gateway_cpu_pct"] for r in rounds])
    errors = sum(r["slipway"]["errors"] for r in rounds)
    return {
        "connections": conns,
        "rounds": rounds,
        "summary": summary,
        "sweep": {str(k): {"rps": v["rps"], "p99_ms": v["p99_ms"]} for k, v in sorted(sweep.items())},
        "recorder": recorder,
        "split_pct": {k: round(v * 100 / total, 2) for k, v in served.items()} if total else {},
        "records_in_store": total,
        "rss_mb_after": mib(rss),
        "met": {
            "rps": summary["slipway"]["rps"] >= TARGETS["throughput_rps"],
            "no_errors": errors == 0,
            "no_records_dropped": recorder["dropped"] == 0 and recorder["write_failures"] == 0,
        },
    }


# ---------------------------------------------------------------- 3. streaming + 5. RSS

_TOKEN = re.compile(rb'"content":"t(\d+) "')


async def stream_load(
    port: int, *, streams: int, seconds: float, chunks: int, interval_ms: float, rss_pid: int | None
) -> dict[str, Any]:
    """`streams` connections, each streaming back to back; starts staggered over one stream's length."""
    conns = [await HttpConn.open(HOST, port) for _ in range(streams)]
    raw = http_request("POST", port, "/v1/chat/completions", STREAM_BODY.encode())
    stream_len = chunks * interval_ms / 1000
    ttft: list[float] = []
    durations: list[float] = []
    failures: dict[str, int] = {}
    received = expected = 0
    open_now = 0
    open_samples: list[tuple[float, int]] = []
    start = time.perf_counter()
    stop_at = start + seconds

    def fail(kind: str) -> None:
        failures[kind] = failures.get(kind, 0) + 1

    async def worker(i: int) -> None:
        nonlocal received, expected, open_now
        conn = conns[i]
        await asyncio.sleep(i * stream_len / streams)
        while time.perf_counter() < stop_at:
            if conn.closed:
                conn = await HttpConn.open(HOST, port)
            open_now += 1
            expected += chunks
            try:
                resp = await conn.request(raw)
            except Exception as exc:
                fail(type(exc).__name__)
                conn.close()
                continue
            finally:
                open_now -= 1
            tokens = [int(m) for m in _TOKEN.findall(resp.body)]
            received += len(tokens)
            if resp.status != 200:
                fail(f"http_{resp.status}")
            elif tokens != list(range(chunks)):
                fail("chunks_lost_or_reordered")
            elif b"data: [DONE]" not in resp.body:
                fail("no_done_marker")
            elif resp.first_body_at is not None:
                ttft.append(resp.first_body_at - resp.sent_at)
                durations.append(resp.done_at - resp.sent_at)

    async def watch_open() -> None:
        while True:
            open_samples.append((time.perf_counter(), open_now))
            await asyncio.sleep(0.05)

    sampler = RssSampler(rss_pid) if rss_pid is not None else None
    if sampler is not None:
        sampler.start()
    watcher = asyncio.get_running_loop().create_task(watch_open())
    cpu0 = tree_cpu(rss_pid) if rss_pid is not None else 0.0
    me0 = sum(psutil.Process().cpu_times()[:2])
    meter = Meter()
    await asyncio.gather(*(worker(i) for i in range(streams)))
    wall = time.perf_counter() - start
    load = meter.stop()
    client_pct = (sum(psutil.Process().cpu_times()[:2]) - me0) / wall * 100
    watcher.cancel()
    if sampler is not None:
        await sampler.stop()
    for conn in conns:
        conn.close()
    result: dict[str, Any] = {
        "streams": len(ttft) + sum(failures.values()),
        "failed": sum(failures.values()),
        "failures": failures,
        "chunks_expected": expected,
        "chunks_received": received,
        "ttft_p50_ms": pct(ttft, 50) * 1000,
        "ttft_p99_ms": pct(ttft, 99) * 1000,
        "ttft_max_ms": max(ttft, default=math.nan) * 1000,
        "duration_p50_ms": pct(durations, 50) * 1000,
        "duration_p99_ms": pct(durations, 99) * 1000,
        "peak_open": max((n for _t, n in open_samples), default=0),
        "client_cpu_pct": client_pct,
        **load,
    }
    if sampler is not None and rss_pid is not None:
        result["gateway_cpu_pct"] = (tree_cpu(rss_pid) - cpu0) / wall * 100
        full = [t for t, n in open_samples if n >= streams]
        rss_full = [rss for t, rss in sampler.samples if full and full[0] <= t <= full[-1]]
        result["rss_peak_mb"] = mib(max(rss for _t, rss in sampler.samples))
        result["rss_at_full_open_mb"] = mib(max(rss_full)) if rss_full else None
    return result


def bench_streaming(opts: Opts) -> dict[str, Any]:
    note(
        f"== streaming: {opts.streams} concurrent SSE streams of {opts.chunks} chunks "
        f"{opts.interval_ms:g} ms apart"
    )
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        sse_port = free_port()
        sse = procs.start(
            "sse-backend",
            [
                PYTHON,
                str(BENCH_DIR / "sse_backend.py"),
                "--port",
                str(sse_port),
                "--chunks",
                str(opts.chunks),
                "--interval-ms",
                str(opts.interval_ms),
            ],
        )
        wait_http(f"http://{HOST}:{sse_port}/", sse, procs, "sse-backend")
        ng = start_nginx(procs, sse_backend=sse_port)
        gw = start_slipway(
            procs, "slipway", slipway_config({"blue": f"http://{HOST}:{sse_port}"}, active="blue")
        )
        rss_idle = psutil.Process(gw.server_pid).memory_info().rss
        ports = {"direct": sse_port, "nginx": ng.sse_proxy, "slipway": gw.port}

        def run(name: str, seconds: float) -> dict[str, Any]:
            return run_async(
                stream_load(
                    ports[name],
                    streams=opts.streams,
                    seconds=seconds,
                    chunks=opts.chunks,
                    interval_ms=opts.interval_ms,
                    rss_pid=gw.server_pid if name == "slipway" else None,
                )
            )

        for name in ports:
            run(name, 1.5)  # warm-up: connections, code paths, allocator
        rounds = []
        for r in range(opts.rounds):
            row = {}
            for name in rotated(list(ports), r):
                quiet = wait_quiet()
                row[name] = res = run(name, opts.stream_s)
                res["background_before_pct"] = quiet
                note(
                    f"  round {r + 1} {name:8} {res['streams']:5} streams, {res['failed']} failed, "
                    f"TTFT p50 {res['ttft_p50_ms']:.2f} p99 {res['ttft_p99_ms']:.2f} ms, "
                    f"CPU: machine {res['machine_cpu_pct']:.0f} %, not ours {res['background_cpu_pct']:.0f} %"
                    + (f", RSS {res['rss_peak_mb']} MiB" if "rss_peak_mb" in res else "")
                )
                time.sleep(0.3)
            rounds.append(row)
        rss_after = psutil.Process(gw.server_pid).memory_info().rss
    summary = summarize(rounds, ["ttft_p50_ms", "ttft_p99_ms", "duration_p50_ms", "duration_p99_ms"])
    added = {
        via: {q: median([r[via][q] - r["direct"][q] for r in rounds]) for q in ("ttft_p50_ms", "ttft_p99_ms")}
        for via in ("nginx", "slipway")
    }
    failed = sum(r[n]["failed"] for r in rounds for n in r)
    lost = sum(r[n]["chunks_expected"] - r[n]["chunks_received"] for r in rounds for n in r)
    rss_peak = max(r["slipway"]["rss_peak_mb"] for r in rounds)
    rss_full = [r["slipway"]["rss_at_full_open_mb"] for r in rounds if r["slipway"]["rss_at_full_open_mb"]]
    return {
        "rounds": rounds,
        "summary": summary,
        "added_ms": added,
        "failed_streams": failed,
        "chunks_lost": lost,
        "peak_open_streams": max(r["slipway"]["peak_open"] for r in rounds),
        "gateway_cpu_pct": median([r["slipway"]["gateway_cpu_pct"] for r in rounds]),
        "rss_idle_mb": mib(rss_idle),
        "rss_peak_mb": rss_peak,
        "rss_at_full_open_mb": max(rss_full) if rss_full else None,
        "rss_after_mb": mib(rss_after),
        "met": {
            "no_chunk_lost": failed == 0 and lost == 0,
            "ttft_added_p99": added["slipway"]["ttft_p99_ms"] <= TARGETS["ttft_added_p99_ms"],
            "rss": rss_peak <= TARGETS["rss_mb_at_256_streams"],
        },
    }


# ---------------------------------------------------------------- 4. rollback under load


async def rollback_load(port: int, *, rate: float, switches: int, gap_s: float) -> dict[str, Any]:
    chat = http_request("POST", port, "/v1/chat/completions", REQUEST_BODY.encode())
    idle = [await HttpConn.open(HOST, port) for _ in range(16)]
    admin = await HttpConn.open(HOST, port)
    done: list[tuple[float, float, int, bytes]] = []
    failures: list[dict[str, Any]] = []
    retries = 0
    started = time.perf_counter()
    switch_log: list[tuple[float, float, str, int]] = []
    in_flight: set[asyncio.Task[None]] = set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def one() -> None:
        nonlocal retries
        # An idle keep-alive connection may have been closed by the server (uvicorn: after 5 s);
        # like any HTTP client, use another one, and retry once if the write finds it closed.
        while idle and (idle[-1].closed or idle[-1].transport is None or idle[-1].transport.is_closing()):
            idle.pop().close()
        conn = idle.pop() if idle else await HttpConn.open(HOST, port)
        sent = time.perf_counter()
        try:
            try:
                resp = await conn.request(chat)
            except RuntimeError:  # uvloop: the transport was already closed, nothing was sent
                retries += 1
                conn.close()
                conn = await HttpConn.open(HOST, port)
                resp = await conn.request(chat)
        except Exception as exc:
            done.append((sent, time.perf_counter(), 0, b""))
            failures.append({"at_s": sent - started, "error": f"{type(exc).__name__}: {exc}"})
            conn.close()
            return
        done.append((resp.sent_at, resp.done_at, resp.status, resp.headers.get(b"x-slipway-slot", b"")))
        if resp.status != 200:
            body = resp.body[:300].decode(errors="replace")
            failures.append({"at_s": sent - started, "error": f"HTTP {resp.status}: {body}"})
        idle.append(conn)

    async def generate() -> None:
        start = time.perf_counter()
        k = 0
        while not stop.is_set():
            delay = start + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = loop.create_task(one())
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            k += 1

    async def switch() -> None:
        await asyncio.sleep(1.0)
        current = "blue"
        for _ in range(switches):
            to = "green" if current == "blue" else "blue"
            body = json.dumps({"to": to, "reason": "benchmark"}).encode()
            resp = await admin.request(http_request("POST", port, "/admin/rollback", body))
            switch_log.append((resp.sent_at, resp.done_at, to, resp.status))
            current = to if resp.status == 200 else current
            await asyncio.sleep(gap_s)
        await asyncio.sleep(1.0)
        stop.set()

    await asyncio.gather(generate(), switch())
    if in_flight:
        await asyncio.gather(*in_flight)
    wall = time.perf_counter() - started
    for conn in [*idle, admin]:
        conn.close()

    failed = [d for d in done if d[2] != 200]
    ordered = sorted(done, key=lambda d: d[0])
    eff_sent: list[float] = []
    eff_return: list[float] = []
    stale = 0
    stale_examples: list[dict[str, Any]] = []
    for i, (sent, returned, to, _status) in enumerate(switch_log):
        next_sent = switch_log[i + 1][0] if i + 1 < len(switch_log) else math.inf
        window = [d for d in ordered if sent <= d[0] < next_sent]
        new = [d for d in window if d[3] == to.encode()]
        if new:
            first = min(d[1] for d in new)
            eff_sent.append(first - sent)
            eff_return.append(first - returned)
        late = [d for d in window if d[0] > returned and d[3] != to.encode() and d[2] == 200]
        stale += len(late)
        stale_examples += [
            {"switch": i, "sent_after_return_ms": (d[0] - returned) * 1000, "slot": d[3].decode()}
            for d in late
        ]
    admin_ms = [(r - s) * 1000 for s, r, _to, _st in switch_log]
    return {
        "requests": len(done),
        "achieved_rps": len(done) / wall,
        "failed_requests": len(failed),
        "switches": len(switch_log),
        "switches_ok": sum(1 for s in switch_log if s[3] == 200),
        "switches_seen": len(eff_sent),
        "admin_call_p50_ms": pct(admin_ms, 50),
        "admin_call_p99_ms": pct(admin_ms, 99),
        "admin_call_max_ms": max(admin_ms, default=math.nan),
        "effective_from_sent_p50_ms": pct(eff_sent, 50) * 1000,
        "effective_from_sent_p99_ms": pct(eff_sent, 99) * 1000,
        "effective_from_sent_max_ms": max(eff_sent, default=math.nan) * 1000,
        "effective_from_return_p50_ms": pct(eff_return, 50) * 1000,
        "effective_from_return_max_ms": max(eff_return, default=math.nan) * 1000,
        "stale_after_return": stale,
        "stale_examples": stale_examples[:10],
        "failure_examples": failures[:10],
        "client_retries_on_closed_keepalive": retries,
        "switch_times_s": [round(s - started, 3) for s, _r, _to, _st in switch_log],
    }


def bench_rollback(opts: Opts) -> dict[str, Any]:
    note(f"== rollback: {opts.switches} switches back and forth while {opts.rate:g} requests/s flow")
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        config = slipway_config({"blue": ng.url(ng.zero), "green": ng.url(ng.zero2)}, active="blue")
        gw = start_slipway(procs, "slipway", config)
        check_chat(gw.url)
        result = run_async(
            rollback_load(gw.port, rate=opts.rate, switches=opts.switches, gap_s=opts.switch_gap_s)
        )
        history = get_json(gw.url + f"/admin/history?limit={opts.switches + 10}")
    result["route_changes_recorded"] = sum(1 for c in history["changes"] if c["kind"] == "rollback")
    result["met"] = {
        "no_failed_requests": result["failed_requests"] == 0,
        "all_switches_applied": result["switches_ok"] == opts.switches == result["switches_seen"],
        "effective_within_50ms": result["effective_from_sent_max_ms"] <= TARGETS["switch_effective_ms"],
        "no_stale_after_return": result["stale_after_return"] == 0,
    }
    note(
        f"  {result['requests']} requests, {result['failed_requests']} failed; switch effective "
        f"p50 {result['effective_from_sent_p50_ms']:.1f} max {result['effective_from_sent_max_ms']:.1f} ms"
    )
    return result


# ---------------------------------------------------------------- 6a. ASGI server: uvicorn vs granian


def _granian_argv(port: int, target: str) -> list[str]:
    argv = [str(Path(PYTHON).with_name("granian")), "--interface", "asgi", "--loop", "uvloop"]
    argv += ["--http", "1", "--no-ws", "--workers", "1", "--runtime-threads", "1", "--log-level", "warning"]
    return [
        *argv,
        "--no-access-log",
        "--host",
        HOST,
        "--port",
        str(port),
        "--working-dir",
        str(BENCH_DIR),
        target,
    ]


def bench_stack(opts: Opts) -> dict[str, Any]:
    note("== stack: ASGI server uvicorn (uvloop + httptools) vs granian, bare app and slipway")
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        config = slipway_config({"blue": ng.url(ng.zero)}, active="blue")
        urls: dict[str, str] = {"direct": ng.url(ng.zero)}
        pids: dict[str, int] = {}
        port = free_port()
        argv = [PYTHON, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "asgi_targets:hello", "--host", HOST]
        argv += ["--port", str(port), "--loop", "uvloop", "--http", "httptools", "--ws", "none"]
        argv += ["--lifespan", "off", "--log-level", "warning", "--no-access-log"]
        proc = procs.start("hello-uvicorn", argv)
        urls["hello-uvicorn"] = f"http://{HOST}:{port}"
        wait_http(urls["hello-uvicorn"], proc, procs, "hello-uvicorn")
        pids["hello-uvicorn"] = proc.pid
        port = free_port()
        proc = procs.start("hello-granian", _granian_argv(port, "asgi_targets:hello"))
        urls["hello-granian"] = f"http://{HOST}:{port}"
        wait_http(urls["hello-granian"], proc, procs, "hello-granian")
        pids["hello-granian"] = proc.pid
        for server in ("uvicorn", "granian"):
            gw = start_slipway(procs, f"slipway-{server}", config, server=server)
            urls[f"slipway-{server}"] = gw.url
            pids[f"slipway-{server}"] = gw.proc.pid
            check_chat(gw.url)
        for url in urls.values():
            check_chat(url)
            wrk(url, connections=1, seconds=1, workdir=tmp)
        rounds = []
        for r in range(max(2, opts.rounds - 1)):
            row: dict[str, dict[str, Any]] = {}
            for name in rotated(list(urls), r):
                lat = wrk(urls[name], connections=1, seconds=opts.stack_s, workdir=tmp)
                cpu0 = tree_cpu(pids[name]) if name in pids else 0.0
                tput = wrk(urls[name], connections=64, seconds=opts.stack_s, workdir=tmp)
                cpu = (tree_cpu(pids[name]) - cpu0) / opts.stack_s if name in pids else math.nan
                row[name] = {
                    "p50_ms": lat["p50_ms"],
                    "p99_ms": lat["p99_ms"],
                    "rps_c64": tput["rps"],
                    "p99_ms_c64": tput["p99_ms"],
                    "cpu_cores_c64": cpu,
                    "errors": lat["errors"] + tput["errors"],
                }
                note(
                    f"  round {r + 1} {name:16} c1 p50 {lat['p50_ms']:.3f} p99 {lat['p99_ms']:.3f} ms; "
                    f"c64 {tput['rps']:7.0f} req/s on {cpu:.2f} cores"
                )
            rounds.append(row)
    summary = summarize(rounds, ["p50_ms", "p99_ms", "rps_c64", "p99_ms_c64", "cpu_cores_c64", "errors"])
    return {"rounds": rounds, "summary": summary}


# ---------------------------------------------------------------- 6b. upstream client: aiohttp vs httpx


def bench_clients(opts: Opts) -> dict[str, Any]:
    note("== clients: upstream HTTP client aiohttp vs httpx against the zero-cost backend")
    results: dict[str, dict[str, dict[str, float]]] = {}
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        for concurrency in (1, 8, 64, 256):
            rounds = []
            for r in range(2):
                row = {}
                for lib in rotated(["aiohttp", "httpx"], r):
                    argv = [PYTHON, str(BENCH_DIR / "upstream_clients.py"), "--lib", lib]
                    argv += ["--url", ng.url(ng.zero), "--concurrency", str(concurrency)]
                    argv += ["--seconds", str(opts.clients_s)]
                    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=BENCH_DIR)
                    if out.returncode != 0:
                        raise RuntimeError(f"upstream_clients.py failed:\n{out.stderr}")
                    row[lib] = json.loads(out.stdout.strip().splitlines()[-1])
                    note(
                        f"  c={concurrency:<4} {lib:8} {row[lib]['rps']:7.0f} req/s "
                        f"p50 {row[lib]['p50_ms']:.3f} p99 {row[lib]['p99_ms']:.3f} ms"
                    )
                rounds.append(row)
            results[str(concurrency)] = summarize(rounds, ["rps", "p50_ms", "p99_ms", "errors"])
    return {"by_concurrency": results}


# ---------------------------------------------------------------- report


def bench_workers(opts: Opts) -> dict[str, Any]:
    """`serve --workers 2` against one worker, same config, same wrk, interleaved rounds.

    Both gateways run side by side for the whole measurement (the idle one
    costs next to nothing); each round measures them in turn, in rotating
    order, so drift on a noisy machine hits both alike.
    """
    conns = opts.throughput_connections
    note(f"== workers: one worker against two, recording on (SQLite), wrk -c{conns}")
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        config = slipway_config({"blue": ng.url(ng.zero), "green": ng.url(ng.zero2)}, active="blue")
        gateways = {
            "1 worker": start_slipway(procs, "one", config),
            "2 workers": start_slipway(procs, "two", config, extra=["--workers", "2"]),
        }
        for gw in gateways.values():
            check_chat(gw.url)
            wrk(gw.url, connections=conns, seconds=2, workdir=tmp)
        rounds = []
        for r in range(opts.rounds):
            row = {}
            for name in rotated(list(gateways), r):
                gw = gateways[name]
                cpu0 = tree_cpu(gw.proc.pid)
                result = wrk(gw.url, connections=conns, seconds=opts.throughput_s, workdir=tmp)
                result["gateway_cpu_pct"] = (tree_cpu(gw.proc.pid) - cpu0) / opts.throughput_s * 100
                row[name] = result
                note(f"  round {r + 1} {name:9} {result['rps']:8.0f} req/s p99 {result['p99_ms']:.2f} ms")
            rounds.append(row)
    summary = summarize(rounds, ["rps", "p50_ms", "p99_ms", "errors"])
    for name in gateways:
        summary[name]["gateway_cpu_pct"] = median([r[name]["gateway_cpu_pct"] for r in rounds])
    ratio = median([r["2 workers"]["rps"] / r["1 worker"]["rps"] for r in rounds])
    return {
        "connections": conns,
        "rounds": rounds,
        "summary": summary,
        "ratio_2_to_1": ratio,
        "cpus": psutil.cpu_count(),
        "met": {"ratio_1_6": ratio >= 1.6, "no_errors": all(r[n]["errors"] == 0 for r in rounds for n in r)},
    }


# ---------------------------------------------------------------- 8. keeping what each request asked

#: A longer, realistic support conversation (~2 KB): a system prompt, two user turns.
CONVERSATION_BODY = json.dumps(
    {
        "model": "bench",
        "max_tokens": 8,
        "messages": [
            {"role": "system", "content": "You sort customer-support tickets into one category. " * 12},
            {"role": "user", "content": "I was charged twice for invoice 4411. " * 20},
            {"role": "assistant", "content": "billing"},
            {"role": "user", "content": "And when will the second payment be refunded? " * 10},
        ],
    },
    separators=(",", ":"),
)


def bench_inputs(opts: Opts) -> dict[str, Any]:
    """`gateway.record_inputs` on (the default) against off: the same config otherwise, side by side."""
    note(
        "== inputs: record_inputs on vs off, wrk -c1 (latency) and -c64 (throughput), short and ~2 KB bodies"
    )
    bodies = {"short": REQUEST_BODY, "conversation": CONVERSATION_BODY}
    with workdir(opts.keep) as tmp, Processes(tmp) as procs:
        ng = start_nginx(procs)
        base = slipway_config({"blue": ng.url(ng.zero)}, active="blue")
        gws = {
            "inputs": start_slipway(procs, "inputs", base),
            "no-inputs": start_slipway(procs, "no-inputs", base + "gateway: {record_inputs: false}\n"),
        }
        for gw in gws.values():
            check_chat(gw.url)
            for body in bodies.values():
                wrk(gw.url, connections=8, seconds=1, workdir=tmp, body=body, quiet_wait_s=0)
        rounds = []
        for r in range(opts.rounds):
            row: dict[str, Any] = {}
            for name in rotated(list(gws), r):
                gw = gws[name]
                for kind, body in bodies.items():
                    # Side by side in a round is what makes the ratio fair; waiting a minute for a
                    # shared machine to quiet down before each of 24 runs is not.
                    lat = wrk(
                        gw.url, connections=1, seconds=opts.latency_s, workdir=tmp, body=body, quiet_wait_s=10
                    )
                    cpu0 = tree_cpu(gw.proc.pid)
                    conns = opts.throughput_connections
                    thr = wrk(
                        gw.url,
                        connections=conns,
                        seconds=opts.throughput_s,
                        workdir=tmp,
                        body=body,
                        quiet_wait_s=10,
                    )
                    cpu_ms = (tree_cpu(gw.proc.pid) - cpu0) * 1000 / max(thr["requests"], 1)
                    row[f"{name}/{kind}"] = {
                        "p50_ms": lat["p50_ms"],
                        "p99_ms": lat["p99_ms"],
                        "rps_c64": thr["rps"],
                        "p99_ms_c64": thr["p99_ms"],
                        "cpu_ms_per_request": cpu_ms,
                        "errors": lat["errors"] + thr["errors"],
                    }
                    note(
                        f"  round {r + 1} {name:9} {kind:12} p50 {lat['p50_ms']:.3f} ms "
                        f"p99 {lat['p99_ms']:.3f} ms | c64 {thr['rps']:6.0f} req/s, {cpu_ms:.3f} ms CPU/req"
                    )
            rounds.append(row)
        time.sleep(1.0)  # the recorder writes every 0.25 s
        stored = {}
        for name, gw in gws.items():
            status = get_json(gw.url + "/admin/status")["recorder"]
            with contextlib.closing(sqlite3.connect(procs.workdir / name / "state.db")) as db:
                (records,) = db.execute("SELECT count(*) FROM requests").fetchone()
                (inputs,) = db.execute("SELECT count(*) FROM request_inputs").fetchone()
            stored[name] = {"records": records, "inputs": inputs, "dropped": status["dropped"]}
    keys = ["p50_ms", "p99_ms", "rps_c64", "p99_ms_c64", "cpu_ms_per_request"]
    summary = summarize(rounds, keys)
    ratios = {
        kind: {k: median([r[f"inputs/{kind}"][k] / r[f"no-inputs/{kind}"][k] for r in rounds]) for k in keys}
        for kind in bodies
    }
    errors = sum(v["errors"] for r in rounds for v in r.values())
    return {
        "rounds": rounds,
        "summary": summary,
        "ratio_inputs_over_none": ratios,
        "stored": stored,
        "met": {
            "no_errors": errors == 0,
            "inputs_stored": stored["inputs"]["inputs"] == stored["inputs"]["records"] > 0,
            "none_stored_when_off": stored["no-inputs"]["inputs"] == 0,
        },
    }


BENCHES: dict[str, Callable[[Opts], dict[str, Any]]] = {
    "latency": bench_latency,
    "throughput": bench_throughput,
    "streaming": bench_streaming,
    "rollback": bench_rollback,
    "stack": bench_stack,
    "clients": bench_clients,
    "workers": bench_workers,
    "inputs": bench_inputs,
}


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ok(flag: bool) -> str:
    return "met" if flag else "**missed**"


def markdown(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['kernel']}, "
        f"{m['virtualization']}, {m['python']}, {m['nginx']}; run {m['date']}."
    )
    if any(k in results for k in ("latency", "throughput", "streaming", "rollback")):
        out.append("")
        out.append("| measurement | direct | nginx | slipway | slipway − direct | target | |")
        out.append("|---|---|---|---|---|---|---|")
    if "latency" in results:
        lat = results["latency"]
        s, a = lat["summary"], lat["added_ms"]["slipway"]
        for q, key, target in (("p50", "added_p50", 0.3), ("p99", "added_p99", 1.0)):
            k = q + "_ms"
            out.append(
                f"| latency {q}, 1 in flight (ms) | {_f(s['direct'][k])} | {_f(s['nginx'][k])} "
                f"| {_f(s['slipway'][k])} | {_f(a[k])} | ≤ {target} | {_ok(lat['met'][key])} |"
            )
    if "throughput" in results:
        tp = results["throughput"]
        s = tp["summary"]
        out.append(
            f"| throughput, 95/5 + SQLite recording, c={tp['connections']} (req/s) "
            f"| {_f(s['direct']['rps'], 0)} | {_f(s['nginx']['rps'], 0)} | {_f(s['slipway']['rps'], 0)} "
            f"| {_f(s['slipway']['rps'] / s['direct']['rps'], 3)}× direct | ≥ 3000 "
            f"| {_ok(tp['met']['rps'])} |"
        )
    if "streaming" in results:
        st = results["streaming"]
        s, a = st["summary"], st["added_ms"]["slipway"]
        out.append(
            f"| streaming TTFT p99, 256 streams (ms) | {_f(s['direct']['ttft_p99_ms'])} "
            f"| {_f(s['nginx']['ttft_p99_ms'])} | {_f(s['slipway']['ttft_p99_ms'])} | {_f(a['ttft_p99_ms'])} "
            f"| ≤ 2 | {_ok(st['met']['ttft_added_p99'])} |"
        )
        out.append(
            f"| streaming: failed streams / chunks lost | | | {st['failed_streams']} / {st['chunks_lost']} "
            f"| | 0 / 0 | {_ok(st['met']['no_chunk_lost'])} |"
        )
        out.append(
            f"| gateway RSS at {st['peak_open_streams']} open streams (MiB) | | | {_f(st['rss_peak_mb'], 1)} "
            f"| | ≤ 150 | {_ok(st['met']['rss'])} |"
        )
    if "rollback" in results:
        rb = results["rollback"]
        out.append(
            f"| rollback: failed requests during {rb['switches']} switches | | | {rb['failed_requests']} "
            f"of {rb['requests']} | | 0 | {_ok(rb['met']['no_failed_requests'])} |"
        )
        out.append(
            f"| rollback: switch effective, from call sent, p50 / max (ms) | | | "
            f"{_f(rb['effective_from_sent_p50_ms'], 1)} / {_f(rb['effective_from_sent_max_ms'], 1)} | | ≤ 50 "
            f"| {_ok(rb['met']['effective_within_50ms'])} |"
        )
    if "stack" in results:
        s = results["stack"]["summary"]
        out.append("")
        out.append(
            "| ASGI server | c=1 p50 (ms) | c=1 p99 (ms) | c=64 req/s | c=64 p99 (ms) | CPU cores at c=64 |"
        )
        out.append("|---|---|---|---|---|---|")
        for name, row in s.items():
            out.append(
                f"| {name} | {_f(row['p50_ms'])} | {_f(row['p99_ms'])} | {_f(row['rps_c64'], 0)} "
                f"| {_f(row['p99_ms_c64'], 2)} | {_f(row['cpu_cores_c64'], 2)} |"
            )
    if "clients" in results:
        out.append("")
        out.append("| upstream client | concurrency | req/s | p50 (ms) | p99 (ms) |")
        out.append("|---|---|---|---|---|")
        for conc, libs in results["clients"]["by_concurrency"].items():
            for lib, row in libs.items():
                out.append(
                    f"| {lib} | {conc} | {_f(row['rps'], 0)} | {_f(row['p50_ms'])} | {_f(row['p99_ms'])} |"
                )
    if "inputs" in results:
        inp = results["inputs"]
        out.append("")
        out.append("| body | p50, c=1 | p99, c=1 | req/s, c=64 | p99, c=64 | CPU per request |")
        out.append("|---|---|---|---|---|---|")
        for kind, ratio in inp["ratio_inputs_over_none"].items():
            on, off = inp["summary"][f"inputs/{kind}"], inp["summary"][f"no-inputs/{kind}"]
            cells = [
                f"{_f(on[k], 3)} / {_f(off[k], 3)} ({ratio[k]:.3f}×)"
                for k in ("p50_ms", "p99_ms", "rps_c64", "p99_ms_c64", "cpu_ms_per_request")
            ]
            out.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description="slipway gateway benchmarks (see bench/README.md)")
    parser.add_argument("what", choices=[*BENCHES, "all"], help="which measurement to run")
    parser.add_argument("--quick", action="store_true", help="shorter runs (a smoke check, not numbers)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds per measurement")
    parser.add_argument("--out", type=Path, help="results JSON (default bench/results/<time>-<what>.json)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (logs, configs)")
    args = parser.parse_args()
    install_signal_handlers()
    opts = Opts.quick() if args.quick else Opts()
    if args.rounds:
        opts.rounds = args.rounds
    opts.keep = args.keep
    names = list(BENCHES) if args.what == "all" else [args.what]
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick, "opts": opts.__dict__}
    started = time.time()
    for name in names:
        results[name] = BENCHES[name](opts)
    results["seconds"] = round(time.time() - started, 1)
    out = args.out or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.what}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))
    note(f"\nresults: {out}")
    missed = [f"{n}.{k}" for n in names for k, v in results[n].get("met", {}).items() if not v]
    if missed:
        note("targets missed: " + ", ".join(missed))
    sys.exit(0)


if __name__ == "__main__":
    main()
