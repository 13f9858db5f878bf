"""Admin API routes of notifications: what became of the latest deliveries, and a test to each sink."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastapi
from fastapi import FastAPI, Query
from fastapi.params import Depends

from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import actor_header


def add_notify_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.get("/admin/notifications", dependencies=deps, tags=["notifications"])
    async def notifications(limit: int = Query(50, ge=1, le=1000)) -> dict[str, Any]:
        """Each sink's final outcome per notification, newest first: delivered, or failed after N attempts."""
        return {"deliveries": [d.to_dict() for d in await runtime.notifications(limit)]}

    @app.post("/admin/notify/test", dependencies=deps, tags=["notifications"])
    async def notify_test(x_slipway_actor: str = fastapi.Depends(actor_header)) -> dict[str, Any]:
        """A test message to each configured sink, once, now: what each answered; `ok` only if all did."""
        answers = await runtime.notify_test(x_slipway_actor)
        return {"ok": bool(answers) and all(a.ok for a in answers), "sinks": [a.to_dict() for a in answers]}

    @app.get("/admin/notify/summary", dependencies=deps, tags=["notifications"])
    async def notify_summary() -> dict[str, Any]:
        """The daily summary of the last 24 hours, composed now and not sent."""
        return (await runtime.daily_summary(send=False)).to_dict()

    @app.post("/admin/notify/summary", dependencies=deps, tags=["notifications"])
    async def notify_summary_send(x_slipway_actor: str = fastapi.Depends(actor_header)) -> dict[str, Any]:
        """The daily summary of the last 24 hours, composed now and queued to every sink."""
        return (await runtime.daily_summary(send=True)).to_dict()
