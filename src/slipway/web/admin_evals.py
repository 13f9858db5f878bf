"""Admin API routes of evaluation suites: store a version, list them, run one or all, read runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated, Any

import fastapi
from fastapi import FastAPI, Query
from fastapi.params import Depends
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from slipway.core.lifecycle import EvalRunRecord, SuiteVersion
from slipway.core.names import Label, SlotName, SuiteName, Text
from slipway.web.eval_stream import NDJSON, stream_run
from slipway.web.reports.eval_html import eval_run_html
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import actor_header


class SuiteRuleBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_drop_points: float = Field(
        5.0, ge=0, le=100, description="Largest drop a category may show, in points."
    )
    alpha: float = Field(
        0.05, gt=0, le=0.5, description="Chance of failing an equal candidate, over all categories."
    )
    min_accuracy: float | None = Field(
        None, ge=0, le=1, description="Alone (no production to pair with): the share of cases that must pass."
    )


class SuiteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases_jsonl: str = Field(description="The cases, JSONL text (one case per line).")
    source: Label = Field("cases.jsonl", description="File name used in error messages.")
    note: Text = Field("", description="What changed in this version.")
    rule: SuiteRuleBody | None = Field(None, description="The pass rule; default: the previous version's.")


class EvalRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    suite: SuiteName | None = Field(None, description="Suite to run; default: every suite.")
    slot: SlotName = Field(description="The slot under test (the candidate).")
    against: SlotName | None = Field(None, description="Production slot to pair with; none: the slot alone.")
    deployment_id: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="The deployment the run belongs to."
    )


def add_eval_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.get("/admin/evals/suites", dependencies=deps, tags=["evaluations"])
    async def list_suites() -> dict[str, Any]:
        """Every suite's latest version (cases counted, not listed)."""
        return {"suites": [_suite_summary(s) for s in await runtime.evaluations.suites()]}

    @app.get("/admin/evals/suites/{name}", dependencies=deps, tags=["evaluations"])
    async def get_suite(
        name: SuiteName, version: int | None = Query(None, ge=1, le=1_000_000, description="Default: latest.")
    ) -> dict[str, Any]:
        """One suite version with its cases."""
        found = await runtime.evaluations.suite(name, version)
        return {"suite": _suite_summary(found), "cases": list(found.cases)}

    @app.post("/admin/evals/suites/{name}", dependencies=deps, tags=["evaluations"])
    async def add_suite(
        name: SuiteName, body: SuiteBody, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """Store the cases as the suite's next version (version 1 creates it)."""
        saved = await runtime.evaluations.add_suite_text(
            name,
            body.cases_jsonl,
            source=body.source,
            rule=body.rule.model_dump() if body.rule is not None else None,
            note=body.note,
            actor=x_slipway_actor,
        )
        return {"suite": _suite_summary(saved)}

    @app.post("/admin/evals/run", dependencies=deps, tags=["evaluations"], response_model=None)
    async def run(
        body: EvalRunBody,
        accept: Annotated[str, fastapi.Header(max_length=1000)] = "",
        x_slipway_actor: str = fastapi.Depends(actor_header),
    ) -> dict[str, Any] | StreamingResponse:
        """Run one suite (or every suite) on a slot, paired against production when `against` is given.

        With `Accept: application/x-ndjson` the answer streams as it goes: `{"progress": …}` lines,
        `{"alive": true}` in long silences, then `{"result": …}` (the JSON answer) or `{"error": …}`;
        a client that disconnects does not stop the run.
        """
        evaluations = runtime.evaluations
        plan = await evaluations.plan(
            body.suite,
            slot=body.slot,
            against=body.against,
            actor=x_slipway_actor,
            deployment_id=body.deployment_id,
        )
        if NDJSON not in accept:
            return _result(await evaluations.execute(plan))
        lines = stream_run(lambda progress: evaluations.execute(plan, progress), _result)
        return StreamingResponse(lines, media_type=NDJSON, headers={"cache-control": "no-store"})

    @app.get("/admin/evals/runs", dependencies=deps, tags=["evaluations"])
    async def list_runs(
        suite: Annotated[SuiteName | None, Query()] = None, limit: int = Query(20, ge=1, le=1000)
    ) -> dict[str, Any]:
        """Runs newest first, without their cases."""
        runs = await runtime.evaluations.runs(suite=suite, limit=limit)
        return {"runs": [_run(r, cases=False) for r in runs]}

    @app.get("/admin/evals/runs/{run_id}", dependencies=deps, tags=["evaluations"], response_model=None)
    async def get_run(
        run_id: Annotated[str, fastapi.Path(max_length=200)],
        format: str = Query("json", pattern="^(json|html)$", description="json or html (one file)."),
    ) -> dict[str, Any] | HTMLResponse:
        """One run with every case; `format=html` is the report as one self-contained page."""
        found = await runtime.evaluations.get_run(run_id)
        if format == "html":
            return HTMLResponse(eval_run_html(found))
        return {"run": _run(found)}


def _result(runs: list[EvalRunRecord]) -> dict[str, Any]:
    return {"passed": all(r.passed for r in runs) and bool(runs), "runs": [_run(r) for r in runs]}


def _suite_summary(suite: SuiteVersion) -> dict[str, Any]:
    return {
        "name": suite.name,
        "version": suite.version,
        "created_at": suite.created_at,
        "actor": suite.actor,
        "note": suite.note,
        "rule": dict(suite.rule),
        "cases": len(suite.cases),
        "must_pass": sum(1 for c in suite.cases if c.get("must_pass") is True),
    }


def _run(run: EvalRunRecord, *, cases: bool = True) -> dict[str, Any]:
    out = asdict(run)
    out["result"] = dict(run.result)
    if not cases:
        out["result"].pop("cases", None)
    return out
