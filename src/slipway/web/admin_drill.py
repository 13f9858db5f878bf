"""Admin API routes of rollback drills: run one now, and list past ones."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastapi
from fastapi import FastAPI, Query
from fastapi.params import Depends
from pydantic import BaseModel, ConfigDict, Field

from slipway.core.drill import DEFAULT_DRILL_REQUESTS, MAX_DRILL_REQUESTS, drill_to_dict
from slipway.core.names import Label, SlotName
from slipway.evals.smoke import parse_smoke_cases
from slipway.rollout.drill import DrillOrder
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import actor_header

#: A smoke file is 10-20 prompts; a megabyte is far beyond any real one.
MAX_SMOKE_CHARS = 1_000_000


class DrillBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot: SlotName | None = Field(
        None, description="Standby slot to rehearse with; default: where a rollback would go."
    )
    requests: int = Field(
        DEFAULT_DRILL_REQUESTS,
        ge=1,
        le=MAX_DRILL_REQUESTS,
        description="Drill requests each replica must get answered by the new side of each switch.",
    )
    smoke_jsonl: str | None = Field(
        None, max_length=MAX_SMOKE_CHARS, description="Smoke cases (JSONL) the standby must answer correctly."
    )
    smoke_source: Label = Field("smoke.jsonl", description="File name used in error messages.")


def add_drill_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.post("/admin/drill", dependencies=deps, tags=["routes"])
    async def drill(
        body: DrillBody | None = None, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """Rehearse a rollback with the standby on every replica, without moving any user's request.

        Runs on the leader (409 elsewhere, naming the leader), one at a time
        (409 while one runs). Answers once the drill is over, with its record:
        `passed` false and `result.reason` say why a drill failed.
        """
        body = body or DrillBody()
        cases = parse_smoke_cases(body.smoke_jsonl, body.smoke_source) if body.smoke_jsonl else None
        order = DrillOrder(slot=body.slot, requests=body.requests, smoke_cases=cases)
        return {"drill": drill_to_dict(await runtime.drill(order, x_slipway_actor))}

    @app.get("/admin/drills", dependencies=deps, tags=["routes"])
    async def drills(limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        """Past drills, newest first."""
        return {"drills": [drill_to_dict(d) for d in await runtime.list_drills(limit)]}
