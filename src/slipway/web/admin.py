"""The admin API: the same actions as the CLI, behind a bearer token.

The handlers are thin: each validates its body, hands it to the rollout
operator (changes) or the runtime (reads), and maps slipway's error tree to
HTTP statuses in one place. What a request means while a canary or a shadow
runs is the operator's decision, not the handler's.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from typing import Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from slipway.core.deployments import Deployment
from slipway.core.errors import (
    BackendError,
    ChecklistFailed,
    ConfigError,
    ConflictError,
    NotFoundError,
    SlipwayError,
    SmokeTestFailed,
    StoreError,
    TransitionError,
    ValidationError,
)
from slipway.core.types import RouteChange
from slipway.evals.smoke import parse_smoke_cases
from slipway.rollout.controller import Moved
from slipway.rollout.operator import DeployOrder
from slipway.rollout.strategies import canary
from slipway.rollout.strategies.bluegreen import DeployRequest
from slipway.web.admin_checklist import add_checklist_routes
from slipway.web.admin_drill import add_drill_routes
from slipway.web.admin_evals import add_eval_routes
from slipway.web.admin_notify import add_notify_routes
from slipway.web.admin_postmortem import add_postmortem_routes
from slipway.web.admin_shadow import add_shadow_routes
from slipway.web.admin_slots import add_slot_routes
from slipway.web.auth import TokenGuard
from slipway.web.dashboard import add_dashboard
from slipway.web.metrics import CONTENT_TYPE as METRICS_TYPE
from slipway.web.metrics import render as render_metrics
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import (
    AbortBody,
    AdapterRollbackBody,
    CanaryActionBody,
    DeployBody,
    ReloadBody,
    RollbackBody,
    SwitchBody,
    actor_header,
)

_STATUS: list[tuple[type[SlipwayError], int]] = [
    (SmokeTestFailed, 422),
    (ChecklistFailed, 422),
    (ConflictError, 409),
    (StoreError, 503),
    (ConfigError, 400),
    (NotFoundError, 404),
    (TransitionError, 409),
    (BackendError, 502),
    (ValidationError, 422),
]


def _status_for(exc: SlipwayError) -> int:
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def change_to_dict(change: RouteChange) -> dict[str, Any]:
    data = asdict(change)
    data["kind"] = str(change.kind)
    return data


def moved_to_dict(moved: Moved) -> dict[str, Any]:
    """What a route change did, from the committed change itself (never from a table read earlier)."""
    change = moved.change
    if change is None:
        active = moved.table.active
        return {
            "from": active,
            "to": active,
            "changed": False,
            "kind": None,
            "from_weights_pct": {},
            "route_version": moved.table.version,
            "reason": f"slot {active!r} already takes all traffic: nothing changed",
        }
    return {
        "from": change.from_active,
        "to": change.to_active,
        "changed": True,
        "kind": str(change.kind),
        "from_weights_pct": {k: v / 100 for k, v in change.from_weights.items()},
        "route_version": moved.table.version,
        "reason": change.reason,
    }


def deployment_to_dict(dep: Deployment) -> dict[str, Any]:
    data = asdict(dep)
    data["strategy"] = str(dep.strategy)
    data["status"] = str(dep.status)
    return data


def create_admin_app(
    runtime: AdminRuntime,
    guard: TokenGuard,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="slipway admin API",
        summary="Blue-green, canary and shadow rollouts for fine-tuned LLMs.",
        version="0.1.0",
        lifespan=lifespan,
    )
    auth = [Depends(guard)]

    @app.exception_handler(SlipwayError)
    async def _slipway_error(_request: Request, exc: SlipwayError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=_status_for(exc))

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """200 when routes are loaded, the store answers and the record writer runs; else 503 and why."""
        reasons = await runtime.readiness()
        return JSONResponse({"ready": not reasons, "reasons": reasons}, status_code=503 if reasons else 200)

    @app.get("/admin/status", dependencies=auth, tags=["routes"])
    async def status() -> dict[str, Any]:
        return (await runtime.status()).to_json()

    @app.get("/metrics", dependencies=auth, tags=["routes"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format: slots, weights, traffic and latency per slot, canary and shadow state."""
        return Response(render_metrics(await runtime.status(), runtime.traffic), media_type=METRICS_TYPE)

    @app.get("/admin/history", dependencies=auth, tags=["routes"])
    async def history(limit: int = Query(100, ge=1, le=10_000)) -> dict[str, Any]:
        return {"changes": [change_to_dict(c) for c in await runtime.history(limit)]}

    @app.post("/admin/rollback", dependencies=auth, tags=["routes"])
    async def rollback(
        body: RollbackBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        body = body or RollbackBody()
        done = await runtime.operator.roll_back(
            to=body.to, actor=x_slipway_actor, reason=body.reason, force=body.force
        )
        if done.moved is not None:
            return moved_to_dict(done.moved)
        assert done.canary is not None
        return {
            "from": done.was,
            "to": done.now_active,
            "changed": True,
            "route_version": done.route_version,
            "canary": str(done.canary.status),
        }

    @app.post("/admin/adapters/rollback", dependencies=auth, tags=["routes"])
    async def adapter_rollback(
        body: AdapterRollbackBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        """Back to an earlier adapter version: a route change on the warm engine."""
        body = body or AdapterRollbackBody()
        moved = await runtime.operator.roll_back_adapter(
            to=body.to, actor=x_slipway_actor, reason=body.reason, force=body.force
        )
        new = moved.table.active_slot
        return {**moved_to_dict(moved), "adapter": new.adapter, "version": new.version_label}

    @app.post("/admin/switch", dependencies=auth, tags=["routes"])
    async def switch(body: SwitchBody, x_slipway_actor: str = Depends(actor_header)) -> dict[str, Any]:
        moved = await runtime.operator.switch(
            body.to, actor=x_slipway_actor, reason=body.reason, force=body.force
        )
        return moved_to_dict(moved)

    @app.post("/admin/reload", dependencies=auth, tags=["config"])
    async def reload(
        body: ReloadBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        return await runtime.reload(x_slipway_actor, force=(body or ReloadBody()).force)

    @app.get("/admin/config", dependencies=auth, tags=["config"], response_class=PlainTextResponse)
    async def export_config() -> str:
        return runtime.export_config()

    @app.post("/admin/deploy", dependencies=auth, tags=["deployments"])
    async def deploy(body: DeployBody, x_slipway_actor: str = Depends(actor_header)) -> dict[str, Any]:
        cases = parse_smoke_cases(body.smoke_jsonl, body.smoke_source) if body.smoke_jsonl else None
        order = DeployOrder(
            request=DeployRequest(
                version=body.version,
                slot=body.slot,
                endpoint=body.endpoint,
                model=body.model,
                kind=body.kind,
                adapter=body.adapter,
                upstream_model=body.upstream_model,
                api_key_env=body.api_key_env,
            ),
            strategy=body.strategy,
            smoke_cases=cases,
            skip_smoke=body.no_smoke,
            switch=body.switch,
            steps=body.steps,
            interval=body.interval,
            sample=body.sample,
            until=body.until,
            owner=body.owner,
            waivers=dict(body.waivers),
        )
        done = await runtime.operator.deploy(order, actor=x_slipway_actor)
        result: dict[str, Any] = {
            "deployment": deployment_to_dict(done.deployment),
            "route_version": done.route_version,
        }
        if done.shadow is not None:
            result["shadow"] = done.shadow.to_dict()
        if done.canary is not None:
            result["canary"] = canary.view(done.canary, runtime.canary.clock.now())
        return result

    @app.get("/admin/canary", dependencies=auth, tags=["canary"])
    async def canary_status(events: int = Query(20, ge=0, le=1000)) -> dict[str, Any]:
        """The current (or last) canary: phase, weight, time left, last verdict and metric table, timeline."""
        return await runtime.canary.status(events) or {"canary": None, "events": []}

    async def _act(event: canary.Event) -> dict[str, Any]:
        state = await runtime.operator.canary_command(event)
        now = runtime.canary.clock.now()
        return {"canary": canary.view(state, now), "route_version": runtime.operator.route_version}

    @app.post("/admin/canary/pause", dependencies=auth, tags=["canary"])
    async def canary_pause(
        body: CanaryActionBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        """Stop the phase timer; checks go on, and a rollback verdict still rolls back."""
        reason = (body.reason if body else None) or f"paused by {x_slipway_actor}"
        return await _act(canary.Pause(x_slipway_actor, reason))

    @app.post("/admin/canary/resume", dependencies=auth, tags=["canary"])
    async def canary_resume(
        body: CanaryActionBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        reason = (body.reason if body else None) or f"resumed by {x_slipway_actor}"
        return await _act(canary.Resume(x_slipway_actor, reason))

    @app.post("/admin/canary/promote", dependencies=auth, tags=["canary"])
    async def canary_promote(
        body: CanaryActionBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        """Skip the remaining phases: the candidate takes all traffic now."""
        reason = (body.reason if body else None) or f"promoted by {x_slipway_actor}"
        return await _act(canary.Promote(x_slipway_actor, reason))

    @app.post("/admin/canary/abort", dependencies=auth, tags=["canary"])
    async def canary_abort(
        body: AbortBody | None = None, x_slipway_actor: str = Depends(actor_header)
    ) -> dict[str, Any]:
        """Weight 0 % now; the candidate stays loaded unless `unload`."""
        body = body or AbortBody()
        reason = body.reason or f"aborted by {x_slipway_actor}"
        return await _act(canary.Abort(x_slipway_actor, reason, unload=body.unload))

    add_shadow_routes(app, runtime, auth)
    add_postmortem_routes(app, runtime, auth)
    add_notify_routes(app, runtime, auth)
    add_checklist_routes(app, runtime, auth)
    add_slot_routes(app, runtime, auth)
    add_drill_routes(app, runtime, auth)
    add_eval_routes(app, runtime, auth)
    add_dashboard(app)

    @app.get("/admin/requests/{request_id}", dependencies=auth, tags=["requests"])
    async def request_record(request_id: str) -> dict[str, Any]:
        """What the gateway recorded for one request (slot, version, latency, output), its feedback,
        and what it asked when the gateway keeps inputs (`gateway.record_inputs`)."""
        return await runtime.request(request_id)

    @app.get("/admin/deployments", dependencies=auth, tags=["deployments"])
    async def deployments(limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        return {"deployments": [deployment_to_dict(d) for d in await runtime.deployments(limit)]}

    return app
