"""Issue #3's numbers: slipway in front of a real llama-server with the tiny model and its adapters.

    python bench/engine.py [--rounds 5] [--requests 200] [--switches 40] [--json FILE]

Measures, side by side in one run (interleaved rounds, so machine noise hits
both sides alike):

* gateway overhead with the engine behind it: one request in flight,
  `/v1/completions` straight to llama-server (with the same `lora` list the
  gateway would add) against the same request through `slipway serve`;
* adapter rollback effective time: `POST /admin/adapters/rollback` back and
  forth while a probe sends requests back to back; "effective" is the time
  from sending the call to the end of the first probe request that was sent
  after the call and answered by the target slot (so it includes one whole
  request; the route change itself is in the call time);
* time to bring up a slot with a new adapter version: a version the engine
  has loaded (a route change), and one it has not (a second engine on the
  same base, health check, 12-prompt smoke test, switch), from the deploy
  call to its answer.

Needs the engine (`slipway engine install`). Prints a markdown table; `--json`
keeps the raw numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    SLIPWAY,
    Processes,
    free_port,
    install_signal_handlers,
    machine,
    median,
    note,
    pct,
    run_async,
    wait_http,
    workdir,
)

from slipway.backends.engine import find_llama_server
from slipway.demo.scenario import smoke_cases
from slipway.demo.tickets import held_out_tickets
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models

TICKETS = held_out_tickets(200, seed=7)


def config(models: TinyModelPaths, root: Path, *, both: bool) -> str:
    adapters = [models.v2_1, models.v2_2] if both else [models.v2_1]
    lines = [
        "name: customer-support",
        "engines:",
        "  support:",
        f"    base: {models.base}",
        "    adapters: [" + ", ".join(str(a) for a in adapters) + "]",
        "    ctx_size: 512",
        "active_slot: blue",
        "slots:",
        "  blue: {model: customer-support-v2.1, engine: support, adapter: v2.1}",
        "  green: {model: customer-support-v2.1, engine: support, adapter: v2.1}",
    ]
    return "\n".join(lines) + "\n"


def completion(prompt: str, lora: list[dict[str, Any]] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "max_tokens": 4, "temperature": 0, "cache_prompt": False}
    if lora is not None:
        body["lora"] = lora
    return body


async def one_at_a_time(
    client: httpx.AsyncClient, url: str, lora: list[dict[str, Any]] | None
) -> list[float]:
    out = []
    for t in TICKETS:
        t0 = time.perf_counter()
        r = await client.post(url, json=completion(t.prompt, lora))
        out.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
    return out


async def overhead(gw: str, engine: str, rounds: int) -> dict[str, Any]:
    direct: list[float] = []
    through: list[float] = []
    lora = [{"id": 0, "scale": 1.0}, {"id": 1, "scale": 0.0}]
    async with httpx.AsyncClient(timeout=30) as client:
        await one_at_a_time(client, f"{gw}/v1/completions", None)  # warm both paths
        for r in range(rounds):
            d = await one_at_a_time(client, f"{engine}/v1/completions", lora)
            g = await one_at_a_time(client, f"{gw}/v1/completions", None)
            direct += d
            through += g
            note(f"  round {r + 1}: direct p50 {median(d):.2f} ms, slipway p50 {median(g):.2f} ms")
    return {
        "direct_p50_ms": median(direct),
        "direct_p99_ms": pct(direct, 99),
        "slipway_p50_ms": median(through),
        "slipway_p99_ms": pct(through, 99),
        "added_p50_ms": median(through) - median(direct),
        "added_p99_ms": pct(through, 99) - pct(direct, 99),
        "requests": len(direct),
    }


async def rollback_times(gw: str, switches: int) -> dict[str, Any]:
    api: list[float] = []
    effective: list[float] = []
    failures = 0
    async with httpx.AsyncClient(base_url=gw, timeout=30) as client:
        state: dict[str, Any] = {"since": None, "target": None, "hit": None}
        stop = asyncio.Event()

        async def probe() -> None:
            nonlocal failures
            i = 0
            while not stop.is_set():
                started = time.perf_counter()
                r = await client.post(
                    "/v1/completions", json=completion(TICKETS[i % len(TICKETS)].prompt, None)
                )
                i += 1
                if r.status_code != 200:
                    failures += 1
                    continue
                since = state["since"]
                if (
                    since is not None
                    and state["hit"] is None
                    and started >= since
                    and r.headers["x-slipway-slot"] == state["target"]
                ):
                    state["hit"] = time.perf_counter()

        probing = asyncio.create_task(probe())
        await asyncio.sleep(0.2)
        targets = ["v2.1", "v2.2"]
        for k in range(switches):
            version = targets[(k + 1) % 2]
            state.update(since=time.perf_counter(), target=None, hit=None)
            t0 = state["since"]
            r = await client.post("/admin/adapters/rollback", json={"to": version, "reason": "bench"})
            api.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            state["target"] = r.json()["to"]
            while state["hit"] is None:
                await asyncio.sleep(0.001)
            effective.append((state["hit"] - t0) * 1000)
        stop.set()
        await probing
    return {
        "switches": switches,
        "api_p50_ms": median(api),
        "api_max_ms": max(api),
        "effective_p50_ms": median(effective),
        "effective_p99_ms": pct(effective, 99),
        "effective_max_ms": max(effective),
        "failed_requests": failures,
    }


async def bring_up(gw: str, models: TinyModelPaths) -> dict[str, Any]:
    smoke = "".join(json.dumps(c) + "\n" for c in smoke_cases(0))
    async with httpx.AsyncClient(base_url=gw, timeout=120) as client:
        t0 = time.perf_counter()
        r = await client.post(
            "/admin/deploy",
            json={
                "version": "v2.2",
                "slot": "green",
                "model": "customer-support-v2.2",
                "adapter": str(models.v2_2),
                "smoke_jsonl": smoke,
            },
        )
        unloaded = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
        t0 = time.perf_counter()
        r = await client.post("/admin/adapters/rollback", json={"to": "v2.1"})
        loaded = (time.perf_counter() - t0) * 1000
        r.raise_for_status()
    return {"not_loaded_deploy_ms": unloaded, "loaded_route_change_ms": loaded}


def serve(procs: Processes, home: Path, text: str, name: str) -> str:
    home.mkdir(parents=True, exist_ok=True)
    (home / "slipway.yaml").write_text(text)
    port = free_port()
    argv = [
        SLIPWAY,
        "serve",
        "--config",
        "slipway.yaml",
        "--port",
        str(port),
        "--no-watch",
        "--log-level",
        "warning",
    ]
    proc = procs.start(name, argv, cwd=home)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/healthz", proc, procs, name, timeout=60)
    return url


async def engine_url(gw: str) -> str:
    async with httpx.AsyncClient() as client:
        url: str = (await client.get(f"{gw}/admin/status")).json()["engines"]["support"]["url"]
        return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--switches", type=int, default=40)
    parser.add_argument("--json", type=Path)
    opts = parser.parse_args()
    install_signal_handlers()
    if find_llama_server() is None:
        sys.exit("llama-server is not installed: run `slipway engine install` first")
    results: dict[str, Any] = {"machine": machine()}
    with workdir() as tmp, Processes(tmp) as procs:
        models = build_tiny_models(tmp / "models", seed=0)
        note("overhead: one request in flight, direct vs through slipway")
        gw = serve(procs, tmp / "a", config(models, tmp, both=True), "slipway-a")
        results["overhead"] = run_async(overhead(gw, run_async(engine_url(gw)), opts.rounds))
        note("adapter rollback under load")
        results["rollback"] = run_async(rollback_times(gw, opts.switches))
        note("bring up a slot with a version the engine has not loaded")
        gw_b = serve(procs, tmp / "b", config(models, tmp, both=False), "slipway-b")
        results["bring_up"] = run_async(bring_up(gw_b, models))
    if opts.json:
        opts.json.write_text(json.dumps(results, indent=2))
    print(render(results))


def render(r: dict[str, Any]) -> str:
    m, o, rb, b = r["machine"], r["overhead"], r["rollback"], r["bring_up"]
    return "\n".join(
        [
            f"{m['date']}; {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['kernel']}, {m['python']}",
            "",
            "| what | direct to llama-server | through slipway | added |",
            "|---|---|---|---|",
            f"| completion, 1 in flight, p50 (ms) | {o['direct_p50_ms']:.2f} | {o['slipway_p50_ms']:.2f} "
            f"| {o['added_p50_ms']:.2f} ({o['slipway_p50_ms'] / o['direct_p50_ms']:.2f}×) |",
            f"| completion, 1 in flight, p99 (ms) | {o['direct_p99_ms']:.2f} | {o['slipway_p99_ms']:.2f} "
            f"| {o['added_p99_ms']:.2f} |",
            "",
            "| adapter rollback under load | p50 | p99 | max | target |",
            "|---|---|---|---|---|",
            f"| admin call (route change committed + published) | {rb['api_p50_ms']:.1f} ms | | "
            f"{rb['api_max_ms']:.1f} ms | |",
            f"| call sent → first probe answered on the old adapter | {rb['effective_p50_ms']:.1f} ms | "
            f"{rb['effective_p99_ms']:.1f} ms | {rb['effective_max_ms']:.1f} ms | ≤ 50 ms |",
            f"| failed requests during {rb['switches']} rollbacks | {rb['failed_requests']} | | | 0 |",
            "",
            "| bring up a slot with a new adapter version | time |",
            "|---|---|",
            f"| loaded in the engine already (route change) | {b['loaded_route_change_ms']:.1f} ms |",
            "| not loaded: new engine + health + 12-prompt smoke + switch "
            f"| {b['not_loaded_deploy_ms']:.0f} ms |",
        ]
    )


if __name__ == "__main__":
    main()
