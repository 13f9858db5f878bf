"""`slipway demo`: a retrain that regresses on one category, caught and rolled back, with real parts.

A fine-tuned support classifier (adapter v2.1) serves production. v2.2 was
retrained on last month's skewed tickets; it passes its smoke test and ships
as a canary (or blue-green), and quietly sends refund tickets to shipping:
billing accuracy falls while the average looks fine. slipway's own checks
compare per-category accuracy of v2.2 with v2.1's (from the request records
and the late ground-truth feedback in its store): the canary's at 5 % of
traffic, or, after a blue-green switch, the bake's against v2.1's traffic
before it. Either sees billing regress and rolls back by itself: a
route-table change on a warm engine, effective for the very next request.
The demo only sends traffic and reports what slipway did.

Everything is real: the tiny GGUF model and adapters are built by the
project's own script, llama.cpp's llama-server serves them, slipway's gateway
runs in this process on SQLite, and traffic goes over HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from slipway.analysis.categories import (
    CategoryScore,
    overall,
    score_by_category,
)
from slipway.app import ServeSettings, create_app
from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.backends.engine.process import free_port
from slipway.demo.learn import LoopContext, LoopResult, close_the_loop
from slipway.demo.tickets import INTENTS, Ticket, generate, make_ticket, parse_intent
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models
from slipway.rollout.clock import ScaledClock

#: The traffic mix production sees (refunds are 30 % of billing, see tickets.PATTERN_WEIGHTS).
TRAFFIC_MIX = {"billing": 0.3, "account": 0.25, "shipping": 0.25, "technical": 0.2}
SMOKE_PER_INTENT = 3
CANARY_STEPS = "5%:2h,25%:4h,100%"
CANARY_INTERVAL = "15m"


@dataclass
class DemoOptions:
    workdir: Path
    #: Labelled tickets per phase (before, after the deploy; half that after the rollback).
    requests: int = 400
    concurrency: int = 4
    seed: int = 0
    #: "canary" (unattended ramp, 5 % → 25 % → 100 %) or "bluegreen" (switch, then slipway's bake).
    strategy: str = "canary"
    #: How much faster than real time the control loop runs (1 h of canary in 3600/scale s).
    clock_scale: float = 240.0
    canary_timeout_s: float = 240.0


@dataclass
class PhaseResult:
    name: str
    slot: str
    version: str
    scores: dict[str, CategoryScore]

    @property
    def overall(self) -> CategoryScore:
        return overall(self.scores)


@dataclass
class DemoResult:
    timeline: list[tuple[float, str]] = field(default_factory=list)
    phases: list[PhaseResult] = field(default_factory=list)
    regressed_category: str | None = None
    regression_reason: str | None = None
    canary: dict[str, Any] | None = None
    failed_requests: int = 0
    workdir: Path = Path(".")
    #: After the rollback: what slipway learned from it and did with the next version.
    loop: LoopResult | None = None


Say = Callable[[str], None]
Progress = Callable[[str, int, int], None]


def smoke_cases(seed: int) -> list[dict[str, Any]]:
    """The smoke set the team wrote long before v2.2: plain tickets, a few per intent.

    Like most hand-written smoke sets it covers each intent's most common
    pattern — and so, like many real ones, it has no refund ticket in it.
    """
    rng = random.Random(f"slipway-demo-smoke:{seed}")
    common = {"billing": "double_charge", "account": None, "shipping": None, "technical": None}
    cases = []
    for intent in INTENTS:
        for i in range(SMOKE_PER_INTENT):
            ticket = make_ticket(rng, intent, common[intent])
            while " and " in ticket.text:  # one topic per smoke prompt
                ticket = make_ticket(rng, intent, common[intent])
            cases.append(
                {"id": f"{intent}-{i + 1}", "completion": ticket.prompt, "expect": {"label": intent}}
            )
    return cases


def routing_yaml(models: TinyModelPaths, root: Path) -> str:
    def rel(p: Path) -> str:
        return str(p.relative_to(root))

    return textwrap.dedent(
        f"""\
        # Written by `slipway demo`. Serve it yourself from this directory (its state is ./.slipway):
        #   cd {root} && slipway serve --config slipway.yaml
        name: customer-support
        engines:
          support:
            base: {rel(models.base)}
            adapters:
              - {rel(models.v2_1)}
              - {rel(models.v2_2)}
            ctx_size: 512
        canary:
          # A phase that ends without enough data rolls back (when in doubt). On a slow or busy
          # machine the demo's sped-up phases can end that way, so it extends them instead.
          inconclusive: extend
          guard_interval: 5m
        active_slot: blue
        slots:
          blue:  {{model: customer-support-v2.1, engine: support, adapter: v2.1}}
          green: {{model: customer-support-v2.1, engine: support, adapter: v2.1}}
        """
    )


class Traffic:
    """Labelled tickets through the gateway, each followed by its late ground-truth feedback."""

    def __init__(self, client: httpx.AsyncClient, concurrency: int) -> None:
        self._client = client
        self._gate = asyncio.Semaphore(concurrency)
        self.failed = 0

    async def one(self, ticket: Ticket, user: str, *, feedback: bool = True) -> tuple[str, str | None]:
        """(slot that answered, predicted intent)."""
        async with self._gate:
            r = await self._client.post(
                "/v1/completions",
                json={
                    "model": "customer-support",
                    "prompt": ticket.prompt,
                    "max_tokens": 4,
                    "temperature": 0,
                    "cache_prompt": False,
                },
                # The topic the customer picked in the contact form: the category slipway judges by.
                headers={"X-Slipway-Key": user, "X-Slipway-Category": ticket.intent},
            )
            if r.status_code != 200:
                self.failed += 1
                return r.headers.get("x-slipway-slot", "?"), None
            predicted = parse_intent(r.json()["choices"][0]["text"])
            if not feedback:
                return r.headers["x-slipway-slot"], predicted
            fb = await self._client.post(
                "/v1/feedback",
                json={
                    "request_id": r.headers["x-slipway-request-id"],
                    "label": ticket.intent,
                    "satisfied": predicted == ticket.intent,
                },
            )
            if fb.status_code != 200:
                self.failed += 1
            return r.headers["x-slipway-slot"], predicted

    async def run(
        self,
        tickets: Sequence[Ticket],
        progress: Progress,
        label: str,
        stop: asyncio.Event | None = None,
    ) -> int:
        """Send tickets until done or `stop` is set; returns how many were sent."""
        sent = 0

        async def worker(offset: int, step: int) -> None:
            nonlocal sent
            for i in range(offset, len(tickets), step):
                if stop is not None and stop.is_set():
                    return
                # One key per ticket: the canary's share of users is then its share of traffic.
                await self.one(tickets[i], user=f"{label}-{i}")
                sent += 1
                progress(label, sent, len(tickets))

        workers = 4
        await asyncio.gather(*(worker(w, workers) for w in range(workers)))
        return sent


async def _scores(runtime: Any, since: float, until: float | None, slot: str) -> dict[str, CategoryScore]:
    """Per-category accuracy of one slot in a window, from slipway's own records and feedback."""
    await runtime.recorder.flush()
    pairs = await runtime.store.requests_with_feedback(since=since, until=until)
    return score_by_category(
        (fb.label, parse_intent(rec.output_head) == fb.label)
        for rec, fb in pairs
        if rec.slot == slot and fb.label is not None and rec.status == 200
    )


async def run_demo(opts: DemoOptions, say: Say, progress: Progress) -> DemoResult:
    result = DemoResult(workdir=opts.workdir)
    t0 = time.perf_counter()

    def mark(text: str) -> None:
        result.timeline.append((time.perf_counter() - t0, text))
        say(text)

    root = opts.workdir.resolve()
    root.mkdir(parents=True, exist_ok=True)

    engine = find_llama_server()
    if engine is None:
        mark("llama-server not found: building it once from the llama-cpp-python sdist (several minutes)")
        engine = await asyncio.to_thread(
            install_llama_server,
            progress=lambda stage, frac: progress(f"engine: {stage}", int((frac or 0) * 100), 100),
        )
    mark(f"engine: {engine}")

    models = await asyncio.to_thread(build_tiny_models, root / "models", opts.seed)
    mark(f"built the tiny support classifier + adapters v2.1, v2.2 under {root / 'models'}")

    state = root / ".slipway"
    if state.exists():
        shutil.rmtree(state)  # every demo run tells the story from the start
    config = root / "slipway.yaml"
    config.write_text(routing_yaml(models, root))
    smoke = root / "smoke.jsonl"
    smoke.write_text("".join(json.dumps(c) + "\n" for c in smoke_cases(opts.seed)))

    clock = ScaledClock(opts.clock_scale, anchor=time.time())
    settings = ServeSettings(
        config_path=config, workdir=root, watch_config=False, port=free_port(), clock=clock
    )
    app, runtime = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=settings.port,
            loop="none",
            http="httptools",
            lifespan="on",
            log_level="error",
            access_log=False,
        )
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving  # raises what stopped it
            raise RuntimeError("the gateway stopped during start-up")
        await asyncio.sleep(0.01)
    base = f"http://127.0.0.1:{settings.port}"
    mark(f"slipway serving on {base}: blue = v2.1 (active), engine `support` with both adapters warm")

    try:
        async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:
            traffic = Traffic(client, opts.concurrency)
            n = opts.requests

            # 1. Production on v2.1.
            start1 = time.time()
            await traffic.run(generate(n, f"demo-1-{opts.seed}", weights=TRAFFIC_MIX), progress, "v2.1 live")
            end1 = time.time()
            before = await _scores(runtime, start1, end1, "blue")
            result.phases.append(PhaseResult("before the deploy", "blue", "v2.1", before))
            mark(f"v2.1 served {overall(before).n} labelled tickets: {_fmt(before)}")
            rate = n / max(end1 - start1, 1e-3)
            fitted = fitted_clock_scale(opts.clock_scale, rate)
            if fitted < opts.clock_scale:
                clock.set_scale(fitted)
                mark(
                    f"this machine answers {rate:.0f} tickets/s: the demo clock slows to 1 h = "
                    f"{3600 / fitted:.0f} s, so the canary's first phase sees enough of them"
                )
                slower = opts.clock_scale / fitted
                opts = replace(opts, clock_scale=fitted, canary_timeout_s=opts.canary_timeout_s * slower)

            # 2-4. Ship v2.2 (canary by default), catch billing, roll back.
            story = _canary_story if opts.strategy == "canary" else _bluegreen_story
            rolled_back = await story(client, runtime, traffic, opts, smoke, before, result, mark, progress)
            if not rolled_back:
                result.failed_requests = traffic.failed
                return result

            # 5. Back on v2.1.
            start3 = time.time()
            await traffic.run(
                generate(n // 2, f"demo-3-{opts.seed}", weights=TRAFFIC_MIX), progress, "v2.1 again"
            )
            recovered = await _scores(runtime, start3, None, "blue")
            result.phases.append(PhaseResult("after the rollback", "blue", "v2.1", recovered))
            mark(f"v2.1 again: {_fmt(recovered)}")

            # 6-9. Learn from the rollback: slipway's postmortem, regression cases, the next version.
            deployment = str((result.canary or {}).get("deployment_id"))
            loop = await close_the_loop(LoopContext(client, opts.seed, models, smoke, deployment, mark))
            result.loop = loop
            if loop.fixed_live:
                start4 = time.time()
                await traffic.run(
                    generate(n // 2, f"demo-4-{opts.seed}", weights=TRAFFIC_MIX), progress, "v2.3 live"
                )
                fixed = await _scores(runtime, start4, None, "green")
                result.phases.append(PhaseResult("after v2.3's deploy", "green", "v2.3", fixed))
                mark(f"v2.3 served {overall(fixed).n} labelled tickets: {_fmt(fixed)}")
            result.failed_requests = traffic.failed
    finally:
        server.should_exit = True
        await serving
    mark(f"done; state kept in {state} (serve it again from {root}: slipway serve --config {config.name})")
    return result


async def _deploy_v2_2(
    client: httpx.AsyncClient, smoke: Path, mark: Say, *, strategy: str, **plan: str
) -> int:
    """POST /admin/deploy for v2.2 into green (adapter v2.2), gated by the smoke set and the checklist.

    Returns the smoke prompts passed; says what the pre-deployment checklist found.
    """
    r = await client.post(
        "/admin/deploy",
        json={
            "version": "v2.2",
            "strategy": strategy,
            "slot": "green",
            "model": "customer-support-v2.2",
            "adapter": "v2.2",
            "smoke_jsonl": smoke.read_text(),
            "smoke_source": str(smoke),
            **plan,
        },
        headers={"X-Slipway-Actor": "slipway demo"},
    )
    if r.status_code != 200:
        raise RuntimeError(f"the {strategy} deploy was refused: {r.text}")
    detail = r.json()["deployment"]["detail"]
    checklist = detail.get("checklist")
    if isinstance(checklist, dict):
        mark(
            f"pre-deployment checklist of v2.2: {'passed' if checklist['passed'] else 'failed'} "
            f"({checklist['summary']}); `slipway checklist v2.2 --slot green` shows each item and its fix"
        )
    passed: int = detail["smoke"]["passed_count"]
    return passed


async def _bluegreen_story(
    client: httpx.AsyncClient,
    runtime: Any,
    traffic: Traffic,
    opts: DemoOptions,
    smoke: Path,
    before: dict[str, CategoryScore],
    result: DemoResult,
    mark: Say,
    progress: Progress,
) -> bool:
    """Blue-green: switch all traffic after the smoke test; slipway's bake decides, not the demo."""
    passed = await _deploy_v2_2(client, smoke, mark, strategy="bluegreen")
    mark(
        f"deploy v2.2 -> green: smoke test passed ({passed} prompts); traffic switched to green. slipway "
        "bakes it: a check every 5 min for the first hour against v2.1's own traffic before the switch "
        f"(demo clock: 1 h = {3600 / opts.clock_scale:g} s)"
    )
    start2 = time.time()
    tickets2 = generate(opts.requests * 30, f"demo-2-{opts.seed}", weights=TRAFFIC_MIX)
    bake = await _watch(client, traffic, tickets2, opts, mark, progress, "v2.2 live", until=BAKE_ENDS)
    end2 = time.time()
    result.canary = bake
    after = await _scores(runtime, start2, end2, "green")
    result.phases.append(PhaseResult("after the deploy", "green", "v2.2", after))
    mark(f"v2.2 served {overall(after).n} labelled tickets: {_fmt(after)}")
    return _rolled_back_by_slipway(bake, result, mark, "the bake")


#: Where the demo stops watching a bake: it ended, or rolled back.
BAKE_ENDS = ("rolled_back", "aborted", "superseded", "stable")
#: Where it stops watching a canary: it ended, or reached 100 % (its bake then runs on).
CANARY_ENDS = ("rolled_back", "promoted", "aborted", "superseded", "stable")


async def _watch(
    client: httpx.AsyncClient,
    traffic: Traffic,
    tickets: list[Ticket],
    opts: DemoOptions,
    mark: Say,
    progress: Progress,
    label: str,
    *,
    until: tuple[str, ...],
) -> dict[str, Any]:
    """Send `tickets` while printing slipway's checks, until the rollout reaches one of `until`."""
    stop = asyncio.Event()
    sending = asyncio.create_task(traffic.run(tickets, progress, label, stop))
    seen_checks = 0
    rollout: dict[str, Any] = {}
    deadline = time.monotonic() + opts.canary_timeout_s
    while not sending.done():
        await asyncio.wait([sending], timeout=0.1)
        got = (await client.get("/admin/canary", params={"events": 50})).json()
        rollout = got["canary"] or {}
        checks = [e for e in reversed(got["events"]) if e["kind"] == "check"]
        for event in checks[seen_checks:]:
            verdict = event.get("verdict") or {}
            bake = rollout.get("kind") == "bake"
            where = "after the switch" if bake else f"at {event['weight_pct']:g} % (phase {event['phase']})"
            mark(f"check {where}: {verdict.get('action', '?')} — {event['reason']}")
        seen_checks = max(seen_checks, len(checks))
        if rollout.get("status") in until:
            stop.set()
        elif time.monotonic() > deadline:
            mark(f"no decision within {opts.canary_timeout_s:g} s of wall time; stopping the demo traffic")
            stop.set()
    await sending
    return rollout


def _rolled_back_by_slipway(rollout: dict[str, Any], result: DemoResult, mark: Say, what: str) -> bool:
    """Record why slipway rolled back (False, said, if it did not)."""
    if rollout.get("status") != "rolled_back":
        mark(f"{what} ended as {rollout.get('status')!r}: {rollout.get('reason')}")
        return False
    verdict = rollout.get("last_verdict") or {}
    failing = [m for m in verdict.get("metrics", []) if m.get("action") == "rollback"]
    if failing and failing[0].get("category"):
        result.regressed_category = failing[0]["category"]
    result.regression_reason = verdict.get("reason") or rollout.get("reason") or "rolled back"
    blast = (verdict.get("extra") or {}).get("blast_radius_summary")
    mark(f"slipway rolled {what} back by itself: {result.regression_reason}")
    if blast:
        mark(f"blast radius: {blast}")
    return True


#: Requests the first canary phase should see: its 5 % must reach the judge's 100 samples per arm,
#: and the 30 labelled ones per category, with room to spare.
FIRST_PHASE_REQUESTS = 4_000


def fitted_clock_scale(wanted: float, requests_per_s: float) -> float:
    """The demo clock's speed: `wanted`, or slower if this machine cannot fill the first phase in time.

    The first phase lasts 2 h of demo time; at `requests_per_s` it must see
    FIRST_PHASE_REQUESTS requests, or it would end without enough data on a slow
    or busy machine, and the canary would be rolled back as inconclusive rather
    than for what it does to billing.
    """
    first_phase_s = 2 * 3600.0
    return min(wanted, max(1.0, first_phase_s * requests_per_s / FIRST_PHASE_REQUESTS))


async def _canary_story(
    client: httpx.AsyncClient,
    runtime: Any,
    traffic: Traffic,
    opts: DemoOptions,
    smoke: Path,
    before: dict[str, CategoryScore],
    result: DemoResult,
    mark: Say,
    progress: Progress,
) -> bool:
    """The usual canary, unattended: 5 % for 2 h, 25 % for 4 h, then 100 %, a check every 15 min."""
    passed = await _deploy_v2_2(
        client, smoke, mark, strategy="canary", steps=CANARY_STEPS, interval=CANARY_INTERVAL
    )
    mark(
        f"canary v2.2 -> green: smoke test passed ({passed} prompts); plan {CANARY_STEPS}, "
        f"a check every {CANARY_INTERVAL} (demo clock: 1 h = {3600 / opts.clock_scale:g} s)"
    )
    start2 = time.time()
    tickets2 = generate(opts.requests * 60, f"demo-2-{opts.seed}", weights=TRAFFIC_MIX)
    canary = await _watch(
        client, traffic, tickets2, opts, mark, progress, "canary traffic", until=CANARY_ENDS
    )
    end2 = time.time()
    result.canary = canary
    cand = await _scores(runtime, start2, end2, "green")
    base = await _scores(runtime, start2, end2, "blue")
    result.phases.append(PhaseResult("canary: production", "blue", "v2.1", base))
    result.phases.append(PhaseResult("canary: candidate", "green", "v2.2", cand))
    return _rolled_back_by_slipway(canary, result, mark, "the canary")


def _fmt(scores: dict[str, CategoryScore]) -> str:
    parts = [f"overall {overall(scores).accuracy:.2f}"]
    parts += [f"{c} {scores[c].accuracy:.2f}" for c in INTENTS if c in scores]
    return ", ".join(parts)
