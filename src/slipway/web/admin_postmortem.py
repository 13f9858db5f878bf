"""Admin API routes of post-rollback analysis: the postmortem, and regression cases from its failures."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import fastapi
from fastapi import FastAPI, Path, Query
from fastapi.params import Depends
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from slipway.core.names import Label, check_label, check_name
from slipway.evals.regressions import MAX_PATTERN_CHARS, MAX_PATTERNS
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import actor_header

SuiteName = Annotated[str, AfterValidator(lambda v: check_name(v, "suite name"))]
DEPLOYMENT_ID = "A deployment id (slipway deployments lists them)."


class RegressionsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Label = Field(alias="from", description=DEPLOYMENT_ID)
    suite: SuiteName = Field(
        "regressions", description="The suite the cases are appended to (a new version)."
    )
    redact: list[str] = Field(
        default_factory=list,
        description=(
            f"Regular expressions (at most {MAX_PATTERNS}, of 1 to {MAX_PATTERN_CHARS} characters each): "
            "each match in an input or answer becomes [redacted]."
        ),
    )


class RetryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    at: str = Field(max_length=40, description="An ISO date or date and time (UTC unless given): 2026-12-20.")


def _deployment(value: str) -> str:
    try:
        return check_label(value, "deployment id")
    except ValueError as exc:
        raise fastapi.HTTPException(400, detail=str(exc)) from None


def add_postmortem_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.get("/admin/postmortem", dependencies=deps, tags=["postmortem"])
    async def latest_postmortem(
        format: str = Query("json", description="json, or html (one self-contained file)"),
    ) -> Response:
        """The post-rollback analysis of the latest rolled-back deployment."""
        body, media = await runtime.postmortem.report(None, format)
        return Response(body, media_type=media)

    @app.get("/admin/postmortem/{deployment_id}", dependencies=deps, tags=["postmortem"])
    async def postmortem(
        deployment_id: str = Path(description=DEPLOYMENT_ID, max_length=128),
        format: str = Query("json", description="json, or html (one self-contained file)"),
    ) -> Response:
        """What the candidate served and to whom, its wrong answers grouped by category and input
        pattern, what set them apart, how the input mix moved, the timeline, the suspected cause and
        what to change."""
        body, media = await runtime.postmortem.report(_deployment(deployment_id), format)
        return Response(body, media_type=media)

    @app.post("/admin/postmortem/{deployment_id}/retry", dependencies=deps, tags=["postmortem"])
    async def set_retry(
        body: RetryBody,
        deployment_id: str = Path(description=DEPLOYMENT_ID, max_length=128),
        x_slipway_actor: str = fastapi.Depends(actor_header),
    ) -> dict[str, Any]:
        """When to retry: a date for the next attempt, with the fixes applied; the postmortem says it."""
        return await runtime.postmortem.set_retry(_deployment(deployment_id), body.at, actor=x_slipway_actor)

    @app.post("/admin/regressions", dependencies=deps, tags=["postmortem"])
    async def add_regressions(
        body: RegressionsBody, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """The deployment's labelled wrong answers become must-pass cases of a suite (a new version):
        redacted, deduplicated, each with its origin."""
        return await runtime.postmortem.add_regressions(
            body.from_, suite=body.suite, redact=body.redact, actor=x_slipway_actor
        )

    @app.get("/admin/regressions/export", dependencies=deps, tags=["postmortem"])
    async def export_regressions(
        from_: str = Query(alias="from", description=DEPLOYMENT_ID, max_length=128),
        format: str = Query("jsonl", description="jsonl: chat messages or a prompt, with the right label"),
        redact: Annotated[
            list[str] | None, Query(description="Regular expressions to redact (repeat the parameter).")
        ] = None,
    ) -> Response:
        """Training data for the next retrain: the failing inputs with their right labels."""
        text = await runtime.postmortem.export_regressions(
            _deployment(from_), fmt=format, redact=redact or ()
        )
        return Response(text, media_type="application/x-ndjson")
