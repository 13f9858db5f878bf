"""Admin API route of the pre-deployment checklist: run it now for a staged version, and keep the record."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastapi
from fastapi import FastAPI, Query
from fastapi.params import Depends

from slipway.core.checklist import ChecklistAsk, checklist_summary
from slipway.evals.smoke import parse_smoke_cases
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import ChecklistBody, actor_header


def add_checklist_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.post("/admin/checklist", dependencies=deps, tags=["deployments"])
    async def checklist(
        body: ChecklistBody, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """The ten pre-deployment items for a version in its slot, judged on evidence now, and recorded.

        Never refuses for a failed item: `passed` says whether a deploy would go on.
        """
        cases = parse_smoke_cases(body.smoke_jsonl, body.smoke_source) if body.smoke_jsonl else []
        ask = ChecklistAsk(
            version=body.version,
            slot=body.slot or "",
            actor=x_slipway_actor,
            strategy=str(body.strategy),
            steps=body.steps,
            interval=body.interval,
            owner=body.owner,
            waivers=dict(body.waivers),
            fallback_requests=[case.to_openai_request("") for case in cases],
            announce=body.announce,
            window=body.window,
        )
        return {"checklist": checklist_summary(await runtime.checklist(ask, slot=body.slot))}

    @app.get("/admin/checklists", dependencies=deps, tags=["deployments"])
    async def checklists(
        version: str | None = Query(None, max_length=200), limit: int = Query(20, ge=1, le=500)
    ) -> dict[str, Any]:
        """Checklists run, newest first, optionally for one version."""
        return {"checklists": [checklist_summary(r) for r in await runtime.checklists(version, limit)]}
