"""The demo after the rollback: what slipway learned from v2.2, and what it does with the next version.

A rollback is where the loop closes, not where the story ends. slipway's
postmortem says what failed; `regressions add --from DEPLOYMENT` turns
v2.2's wrong answers into must-pass cases; a v2.3 trained on the same
auto-labelled data is refused by slipway's pre-deployment checklist before
any user request reaches it; and a v2.3 retrained with those answers'
right labels (the team's job: `slipway regressions export` gives them)
passes the same checklist and serves. Every judgment here is slipway's:
the demo only calls its admin API and reports the answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from slipway.demo.tiny_model import TinyModelPaths, retrain_v2_3

ACTOR = {"X-Slipway-Actor": "slipway demo"}


@dataclass
class LoopResult:
    """The loop after the rollback, as slipway ran it."""

    headline: str = ""
    regression_cases: int = 0
    #: slipway's refusal of the v2.3 trained on v2.2's data (None: it was let through).
    flawed_refused: str | None = None
    #: The retrained v2.3's checklist in words, and whether it went live.
    fixed_checklist: str | None = None
    fixed_live: bool = False

    @property
    def closed(self) -> bool:
        return self.flawed_refused is not None and self.fixed_live


@dataclass
class LoopContext:
    client: httpx.AsyncClient
    seed: int
    models: TinyModelPaths
    smoke: Path
    #: The rolled-back deployment of v2.2.
    deployment_id: str
    mark: Callable[[str], None]


async def close_the_loop(ctx: LoopContext) -> LoopResult:
    """Postmortem, regression cases, the flawed v2.3 refused, the fixed v2.3 deployed; said as it goes."""
    result = LoopResult()
    client, mark, dep = ctx.client, ctx.mark, ctx.deployment_id
    pm = await _ok(client.get(f"/admin/postmortem/{dep}"), "the postmortem")
    result.headline = str(pm.get("headline") or "")
    mark(f"slipway's postmortem of v2.2: {result.headline} (`slipway postmortem {dep}` shows all of it)")

    added = await _ok(client.post("/admin/regressions", json={"from": dep}, headers=ACTOR), "regressions")
    result.regression_cases = int(added.get("added") or 0)
    mark(
        f"slipway regressions add --from {dep}: {result.regression_cases} of v2.2's wrong answers are "
        f"must-pass cases of suite {added.get('suite')!r} now; every deploy's checklist runs them"
    )

    flawed = ctx.models.v2_3_flawed
    if flawed is None:
        raise ValueError("the models have no v2.3 built on v2.2's data: build them with build_tiny_models")
    # Not loaded by the engine: slipway starts an engine of its own for it, as for any new adapter file.
    r = await _deploy(ctx, str(flawed))
    if r.status_code == 200:
        mark("v2.3 (trained on v2.2's data) was NOT refused: slipway let it through")
        return result
    error = r.json().get("error") or {}
    failed = [
        f"{i['item']}: {i['evidence']}"
        for i in (error.get("checklist") or {}).get("items", [])
        if i.get("status") == "fail" and i.get("required")
    ]
    result.flawed_refused = "; ".join(failed) or str(error.get("message"))
    status = await _ok(client.get("/admin/status"), "the status")
    mark(
        f"deploy v2.3 (trained on v2.2's data) -> green: refused by slipway's checklist before any user "
        f"request reached it ({result.flawed_refused}); all traffic stays on {status['route']['active']}"
    )

    export = await client.get("/admin/regressions/export", params={"from": dep})
    rows = [json.loads(line) for line in export.text.splitlines() if line.strip()]
    corrections = [(str(row["prompt"]), str(row["completion"])) for row in rows if "prompt" in row]
    fixed = await asyncio.to_thread(retrain_v2_3, ctx.models, ctx.seed, corrections)
    mark(
        f"the team retrains v2.3 on hand-checked labels plus the {len(corrections)} answers "
        f"`slipway regressions export --from {dep}` gives: {fixed.name}"
    )
    r = await _deploy(ctx, str(fixed))
    if r.status_code != 200:
        mark(f"the retrained v2.3 was refused too: {r.json().get('error', {}).get('message')}")
        return result
    checklist = r.json()["deployment"]["detail"].get("checklist")
    if isinstance(checklist, dict):
        result.fixed_checklist = str(checklist.get("summary"))
    status = await _ok(client.get("/admin/status"), "the status")
    result.fixed_live = status["route"]["active"] == "green"
    mark(
        f"deploy the retrained v2.3 -> green: checklist passed ({result.fixed_checklist}), "
        f"its must-pass cases with it; all traffic on {status['route']['active']}"
    )
    return result


async def _deploy(ctx: LoopContext, adapter: str) -> httpx.Response:
    """A blue-green deploy of v2.3 into green with the team's smoke set: slipway's checklist decides."""
    return await ctx.client.post(
        "/admin/deploy",
        json={
            "version": "v2.3",
            "strategy": "bluegreen",
            "slot": "green",
            "model": "customer-support-v2.3",
            "adapter": adapter,
            "smoke_jsonl": ctx.smoke.read_text(),
            "smoke_source": str(ctx.smoke),
        },
        headers=ACTOR,
        timeout=120.0,
    )


async def _ok(request: Awaitable[httpx.Response], what: str) -> Any:
    r = await request
    if r.status_code != 200:
        raise RuntimeError(f"{what} failed: {r.status_code} {r.text[:500]}")
    return r.json()
