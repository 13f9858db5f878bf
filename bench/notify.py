"""Notification delivery: how soon a route change reaches a webhook, and a webhook down for 10 minutes.

    python bench/notify.py                      # ~12 min: 200 switches, then a 10-minute outage
    python bench/notify.py --switches 50 --outage 60 --every 10   # a shorter look

Everything is real and on 127.0.0.1: `slipway serve` as a subprocess (SQLite
store, two `slipway sim serve` backends), a webhook receiver in this process
(uvicorn + Starlette) that records when each notification arrived, and the
admin API as the operator uses it.

* **latency**: `--switches` `POST /admin/switch` calls, alternating blue and
  green, one at a time; for each, the time from the change's commit (its
  time in `slipway history`) to the receiver getting its `route.switch`
  notification (matched by route version; one host, one clock). The
  receiver answers at once.
* **outage**: the receiver answers 503 for `--outage` seconds while a switch
  is made every `--every` seconds, then answers again. Every notification
  must arrive once, in the order the changes were made; how long after the
  receiver came back the last one arrived; what `slipway notifications`
  recorded for them (delivered, attempts). `notify.retry_for` is 1 h (the
  default), `backoff_s` 1 s: pauses double to a minute.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from _common import (
    BENCH_DIR,
    HOST,
    SLIPWAY,
    Processes,
    free_port,
    install_signal_handlers,
    machine,
    note,
    pct,
    wait_http,
    workdir,
)
from replicas import start_sims
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class Receiver:
    """The webhook: records (arrival time, body) of what it accepted; answers 503 while `down`."""

    down: bool = False
    got: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def receive(self, request: Request) -> JSONResponse:
        body = await request.json()
        with self.lock:
            if self.down:
                self.refused += 1
                return JSONResponse({"ok": False}, status_code=503)
            self.got.append((time.time(), body))
        return JSONResponse({"ok": True})

    def arrivals(self, event: str) -> list[tuple[float, dict[str, Any]]]:
        with self.lock:
            return [(t, b) for t, b in self.got if b.get("slipway", {}).get("event") == event]


def serve_receiver(receiver: Receiver) -> tuple[str, uvicorn.Server]:
    port = free_port()
    app = Starlette(routes=[Route("/hook", receiver.receive, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://{HOST}:{port}/hook", server


def version_of(body: dict[str, Any]) -> int:
    """The route version a route note announces (its facts carry it)."""
    return int(body.get("slipway", {}).get("facts", {}).get("route version", -1))


def switch(client: httpx.Client, url: str, to: str, reason: str) -> tuple[float, int]:
    r = client.post(
        f"{url}/admin/switch", json={"to": to, "reason": reason}, headers={"x-slipway-actor": "bench"}
    )
    r.raise_for_status()
    return time.time(), int(r.json()["route_version"])


def wait_for(receiver: Receiver, versions: set[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if versions <= {version_of(b) for _, b in receiver.arrivals("route.switch")}:
            return
        time.sleep(0.02)
    raise RuntimeError(f"not every notification arrived within {timeout:g} s")


def run(opts: argparse.Namespace) -> dict[str, Any]:
    receiver = Receiver()
    hook, server = serve_receiver(receiver)
    results: dict[str, Any] = {"machine": machine(), "opts": vars(opts) | {"out": str(opts.out)}}
    try:
        with workdir(opts.keep) as tmp, Processes(tmp) as procs, httpx.Client(timeout=30) as client:
            sims = start_sims(procs)
            config = tmp / "slipway.yaml"
            config.write_text(
                "name: customer-support\nactive_slot: blue\nslots:\n"
                f'  blue: {{model: customer-support-v2.1, endpoint: "{sims["blue"]}", kind: sim}}\n'
                f'  green: {{model: customer-support-v2.2, endpoint: "{sims["green"]}", kind: sim}}\n'
                f'notify: {{webhooks: ["{hook}"], log: false}}\n'
            )
            port = free_port()
            proc = procs.start(
                "serve",
                [SLIPWAY, "serve", "--config", str(config), "--port", str(port), "--no-watch",
                 "--store", f"sqlite:///{tmp / 'state.db'}", "--log-level", "warning"],
            )  # fmt: skip
            url = f"http://{HOST}:{port}"
            wait_http(url + "/healthz", proc, procs, "serve")

            note(f"== latency: {opts.switches} switches, one at a time")
            made = []
            for i in range(opts.switches):
                _, version = switch(client, url, "green" if i % 2 == 0 else "blue", f"latency {i}")
                wait_for(receiver, {version}, 30)
                made.append(version)
            # From the commit (the change's own time in the history) to the receiver's clock: one host.
            history = client.get(f"{url}/admin/history", params={"limit": opts.switches + 10}).json()[
                "changes"
            ]
            committed = {c["version"]: c["at"] for c in history}
            received = {version_of(b): t for t, b in receiver.arrivals("route.switch")}
            delays = [(received[v] - committed[v]) * 1000 for v in made]
            results["latency_ms"] = {
                "n": len(delays),
                "p50": pct(delays, 50),
                "p99": pct(delays, 99),
                "max": max(delays),
            }
            note(f"  p50 {pct(delays, 50):.1f} ms, p99 {pct(delays, 99):.1f} ms, max {max(delays):.1f} ms")

            note(f"== outage: the webhook answers 503 for {opts.outage:g} s, a switch every {opts.every:g} s")
            receiver.down = True
            began, versions = time.time(), []
            i = 0
            while time.time() - began < opts.outage:
                _, version = switch(client, url, "green" if i % 2 == 0 else "blue", f"during the outage {i}")
                versions.append(version)
                i += 1
                time.sleep(max(0.0, min(opts.every, opts.outage - (time.time() - began))))
            receiver.down = False
            back = time.time()
            wait_for(receiver, set(versions), 120)
            got = [
                (t, version_of(b)) for t, b in receiver.arrivals("route.switch") if version_of(b) in versions
            ]
            order = [v for _, v in sorted(got)]
            rows = client.get(f"{url}/admin/notifications", params={"limit": 1000}).json()["deliveries"]
            recorded = [r for r in rows if r["event"] == "route.switch" and r["sink"].startswith("webhook")]
            during = recorded[: len(versions)]
            results["outage"] = {
                "seconds": opts.outage,
                "changes": len(versions),
                "received": len(got),
                "duplicates": len(got) - len(set(order)),
                "in_order": order == sorted(order),
                "refused_attempts": receiver.refused,
                "last_arrival_after_back_s": max(t for t, _ in got) - back,
                "recorded_delivered": sum(r["outcome"] == "delivered" for r in during),
                "recorded_attempts_max": max(r["attempts"] for r in during),
            }
            note(f"  {json.dumps(results['outage'])}")
    finally:
        server.should_exit = True
    return results


def markdown(r: dict[str, Any]) -> str:
    m, lat, out = r["machine"], r["latency_ms"], r["outage"]
    return "\n".join(
        [
            "## Notifications: route change to webhook, and a webhook down for 10 minutes (issue #12)",
            "",
            f"`python bench/notify.py --switches {lat['n']} --outage {out['seconds']:g}` — "
            f"{m['cpu']}, {m['cores']} cores, {m['python']}; {m['date']}.",
            "",
            "| measure | result |",
            "|---|---|",
            f"| route change committed → webhook received, {lat['n']} switches | p50 {lat['p50']:.1f} ms, "
            f"p99 **{lat['p99']:.1f} ms**, max {lat['max']:.1f} ms |",
            f"| webhook answering 503 for {out['seconds']:g} s, {out['changes']} changes meanwhile | "
            f"**{out['received']} of {out['changes']} received**, {out['duplicates']} twice, "
            f"{'in order' if out['in_order'] else 'OUT OF ORDER'}; the last "
            f"{out['last_arrival_after_back_s']:.1f} s after it answered again; {out['refused_attempts']} "
            f"attempts refused meanwhile; recorded: {out['recorded_delivered']} delivered, up to "
            f"{out['recorded_attempts_max']} attempts each |",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="notification delivery (see the module docstring)")
    parser.add_argument("--switches", type=int, default=200)
    parser.add_argument("--outage", type=float, default=600.0, help="seconds the webhook answers 503")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between changes during it")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--keep", action="store_true")
    opts = parser.parse_args()
    install_signal_handlers()
    results = run(opts)
    out = opts.out or BENCH_DIR / "results" / f"{time.strftime('%Y%m%d-%H%M%S')}-notify.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(markdown(results))
    note(f"\nresults: {out}")


if __name__ == "__main__":
    main()
