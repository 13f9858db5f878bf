"""Admin API routes of shadow mode: status, report, review export, stop, promote."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastapi
from fastapi import FastAPI, Query
from fastapi.params import Depends
from fastapi.responses import Response

from slipway.core.shadow import PromoteVia
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import ShadowPromoteBody, ShadowStopBody, actor_header


def add_shadow_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.get("/admin/shadow", dependencies=deps, tags=["shadow"])
    async def shadow_status(deployment: str | None = Query(None)) -> dict[str, Any]:
        """The current (or last) shadow run: pairs, pairs still needed per category, mirror counters."""
        result: dict[str, Any] = await runtime.shadow.status(deployment)
        return result

    @app.get("/admin/shadow/report", dependencies=deps, tags=["shadow"])
    async def shadow_report(
        format: str = Query("json", description="json, html (one self-contained file) or csv"),
        deployment: str | None = Query(None, description="A run's deployment id; default: the latest."),
    ) -> Response:
        """The structured comparison of the run's pairs, grouped by category, input pattern and format."""
        body, media = await runtime.shadow.report(format, deployment)
        return Response(body, media_type=media)

    @app.get("/admin/shadow/export", dependencies=deps, tags=["shadow"])
    async def shadow_export(
        sample: int = Query(200, ge=1, le=100_000, description="How many pairs."),
        format: str = Query("jsonl", description="jsonl or csv"),
        seed: int = Query(0, description="Same seed, same sample."),
        deployment: str | None = Query(None),
    ) -> Response:
        """Pairs for human review, stratified by category and by disagreement."""
        body, media = await runtime.shadow.export(sample, format, deployment, seed)
        return Response(body, media_type=media)

    @app.post("/admin/shadow/stop", dependencies=deps, tags=["shadow"])
    async def shadow_stop(
        body: ShadowStopBody | None = None, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """Stop mirroring now; the pairs and the report stay, the candidate stays staged."""
        reason = (body.reason if body else None) or f"stopped by {x_slipway_actor}"
        run = await runtime.operator.stop_shadow(actor=x_slipway_actor, reason=reason)
        return {"shadow": run.to_dict(), "route_version": runtime.operator.route_version}

    @app.post("/admin/shadow/promote", dependencies=deps, tags=["shadow"])
    async def shadow_promote(
        body: ShadowPromoteBody, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """Move the shadow's candidate to production through blue-green (a switch) or a canary ramp.

        Only when the shadow report says go, unless `force` comes with a `reason` (409 otherwise).
        Through blue-green, the candidate passes the pre-deployment checklist first, as a deploy does
        (`owner`, `waivers`); a failed required item refuses it as it refuses a deploy.
        """
        return await runtime.operator.promote_shadow(
            PromoteVia(body.via),
            actor=x_slipway_actor,
            steps=body.steps,
            interval=body.interval,
            force=body.force,
            reason=body.reason,
            owner=body.owner,
            waivers=dict(body.waivers),
        )
