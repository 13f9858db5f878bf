"""Upstream HTTP client micro-benchmark: aiohttp (what the proxy uses) vs httpx, under concurrency.

Each worker POSTs the chat request in a closed loop for SECONDS after a short
warm-up; prints one JSON line with requests/s and latency percentiles (ms).
Run one library per process (uvloop), as `bench/gateway.py clients` does:

    python bench/upstream_clients.py --lib aiohttp --url http://127.0.0.1:8081 --concurrency 64
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from _common import REQUEST_BODY, pct, run_async

PAYLOAD = REQUEST_BODY.encode()
HEADERS = {"content-type": "application/json", "accept-encoding": "identity"}
WARMUP_S = 0.5


async def _drive(call: Callable[[], Awaitable[int]], concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    measure_from = start + WARMUP_S
    stop_at = measure_from + seconds

    async def worker() -> None:
        nonlocal errors
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                status = await call()
            except Exception:
                status = 0
            t1 = time.perf_counter()
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                errors += status != 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


async def run_aiohttp(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
    async with aiohttp.ClientSession(
        connector=connector, auto_decompress=False, skip_auto_headers=("User-Agent",)
    ) as session:
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=30)

        async def call() -> int:
            resp = await session.post(url, data=PAYLOAD, headers=HEADERS, timeout=timeout)
            try:
                await resp.read()
                return resp.status
            finally:
                resp.release()

        return await _drive(call, concurrency, seconds)


async def run_httpx(url: str, concurrency: int, seconds: float) -> dict[str, float]:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(30, connect=5)) as client:

        async def call() -> int:
            resp = await client.post(url, content=PAYLOAD, headers=HEADERS)
            return resp.status_code

        return await _drive(call, concurrency, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", choices=["aiohttp", "httpx"], required=True)
    parser.add_argument("--url", required=True, help="Base URL of the zero-cost backend.")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    runner = run_aiohttp if args.lib == "aiohttp" else run_httpx
    url = args.url + "/v1/chat/completions"
    result = run_async(runner(url, args.concurrency, args.seconds))
    print(json.dumps({"lib": args.lib, "concurrency": args.concurrency, **result}))


if __name__ == "__main__":
    main()
