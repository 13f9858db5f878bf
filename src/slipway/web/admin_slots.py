"""Admin API routes of standby slots: unload a model nothing needs warm, and load it back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import fastapi
from fastapi import FastAPI
from fastapi.params import Depends
from pydantic import BaseModel, ConfigDict, Field

from slipway.core.names import SlotName, Text
from slipway.web.runtime_port import AdminRuntime
from slipway.web.schemas import actor_header


class UnloadBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field("unloaded by an operator", description="Why; shown in status and the notification.")


def add_slot_routes(app: FastAPI, runtime: AdminRuntime, auth: Sequence[Depends]) -> None:
    deps = list(auth)

    @app.post("/admin/slots/{slot}/unload", dependencies=deps, tags=["routes"])
    async def unload(
        slot: SlotName, body: UnloadBody | None = None, x_slipway_actor: str = fastapi.Depends(actor_header)
    ) -> dict[str, Any]:
        """Free a standby slot's model from its server (its files are kept; it stays in the routes).

        Refused (409) while the slot carries or mirrors traffic, while a running
        canary, bake or shadow run needs it, and where slipway cannot ask the
        server (a server it did not start).
        """
        reason = (body or UnloadBody()).reason
        record = await runtime.operator.unload(slot, actor=x_slipway_actor, reason=reason)
        return {"unloaded": asdict(record)}

    @app.post("/admin/slots/{slot}/load", dependencies=deps, tags=["routes"])
    async def load(slot: SlotName, x_slipway_actor: str = fastapi.Depends(actor_header)) -> dict[str, Any]:
        """Load a slot's model again (a rollback or switch to an unloaded slot does this by itself)."""
        return {"slot": slot, "loaded": await runtime.operator.load(slot, actor=x_slipway_actor)}
