"""What `slipway status`, the dashboard and `/metrics` show about one replica, gathered in one pass.

A failing store blanks only its own part: while the store is down the
recorder's health matters most, so the rest is shown anyway.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from slipway.app.drift_watch import LAST_META_KEY as DRIFT_META_KEY
from slipway.core.checklist import checklist_summary
from slipway.core.errors import StoreError
from slipway.core.lifecycle import DrillRecord
from slipway.core.types import RouteTable
from slipway.store.database import Store
from slipway.web.status import (
    CanarySummary,
    ConfigStatus,
    DeploymentSummary,
    MirrorRoute,
    ReplicasStatus,
    RouteStatus,
    ShadowSummary,
    SlotStatus,
    Status,
)

if TYPE_CHECKING:
    from slipway.app.runtime import Runtime


async def gather_status(runtime: Runtime) -> Status:
    s = runtime.started
    table = s.controller.table
    store_error: str | None = None
    try:
        traffic = await s.store.request_counts(since=time.time() - 300)
        deployments = await s.store.list_deployments(limit=1)
        canary = await s.canary.current()
        shadow = await s.shadow.controller.current()
        live, leadership = await s.replica.live()
        unloaded = await s.operator.unloaded()
        drift = await _drift(s.store)
        checklist = await _checklist(s.store)
        drills = await s.store.list_drills(1)
        replicas: ReplicasStatus | None = ReplicasStatus(
            this=s.replica.id, leading_epoch=s.replica.epoch, leader=leadership, live=tuple(live)
        )
    except StoreError as exc:
        # While the store is down the recorder's health matters most: show the rest anyway.
        store_error = str(exc)
        traffic, deployments, canary, shadow, replicas = {}, [], None, None, None
        unloaded = {}
        drift = None
        checklist = None
        drills = []
    weights = table.effective_weights()
    slots = tuple(
        SlotStatus(
            name=slot.name,
            state="active" if slot.name == table.active else "standby",
            endpoint=slot.endpoint,
            kind=str(slot.kind),
            model=slot.model,
            version=slot.version_label,
            adapter=slot.adapter,
            weight_pct=weights.get(slot.name, 0) / 100,
            requests_5m=traffic.get(slot.name, {}).get("total", 0),
            errors_5m=traffic.get(slot.name, {}).get("errors", 0),
            warning=(
                f"environment variable {slot.api_key_env} is not set"
                if slot.api_key_env and not os.environ.get(slot.api_key_env)
                else None
            ),
            unloaded=(
                {"at": u.at, "by": u.by, "reason": u.reason, "released": u.released}
                if (u := unloaded.get(slot.name)) is not None
                else None
            ),
        )
        for slot in table.slots.values()
    )
    mirror = s.shadow.mirror
    return Status(
        route=RouteStatus(
            version=table.version,
            active=table.active,
            previous_active=table.previous_active,
            weights_pct={k: v / 100 for k, v in table.weights.items()},
            name=table.name,
            mirror=(
                MirrorRoute(slot=table.mirror, sample_pct=table.mirror_bp / 100, run=table.mirror_run)
                if table.mirror
                else None
            ),
        ),
        slots=slots,
        recorder=s.recorder.health(),
        in_flight=runtime.proxy.in_flight,
        config=ConfigStatus(
            path=str(runtime.settings.config_path) if runtime.settings.config_path else None,
            last_error=runtime.config_state.error,
            not_applied=runtime.config_state.not_applied,
        ),
        store=s.store.where,
        store_error=store_error,
        engines=runtime.fleet.status(),
        uptime_s=round(time.time() - runtime.started_at, 1),
        canary=(
            CanarySummary(
                version=canary.version,
                status=str(canary.status),
                weight_pct=canary.weight_bp / 100,
                kind=canary.kind,
                uncovered=len(canary.last_verdict.uncovered()) if canary.last_verdict else 0,
            )
            if canary is not None
            else None
        ),
        shadow=(
            ShadowSummary(
                version=shadow.version,
                status=str(shadow.status),
                candidate=shadow.candidate,
                sample_pct=shadow.sample_bp / 100,
                mirror=copy.copy(mirror.stats),
                queued=mirror.queued,
            )
            if shadow is not None
            else None
        ),
        connections=copy.copy(runtime.connections),
        route_feed={**asdict(s.route_feed.stats), "follower_restarts": s.follower.restarts},
        replicas=replicas,
        drift=drift,
        checklist=checklist,
        drill=_drill(drills[0] if drills else None, table),
        last_deployment=(
            DeploymentSummary(
                id=deployments[0].id, version=deployments[0].version, status=str(deployments[0].status)
            )
            if deployments
            else None
        ),
    )


def _drill(last: DrillRecord | None, table: RouteTable) -> dict[str, Any] | None:
    """The last drill's age and result, and the one running now (its slot only: the pin's id is secret)."""
    pin = table.drill
    if last is None and pin is None:
        return None
    result = last.result if last is not None else {}
    return {
        "last": (
            {
                "id": last.id,
                "at": last.at,
                "age_s": round(time.time() - last.at, 1),
                "actor": last.actor,
                "slot": last.slot,
                "passed": last.passed,
                "switch_ms": result.get("switch_ms"),
                "switch_back_ms": result.get("switch_back_ms"),
                "smoke_passed": result.get("smoke_passed"),
                "reason": result.get("reason"),
            }
            if last is not None
            else None
        ),
        "running": (
            {"slot": pin.slot, "by": pin.actor, "since": pin.started_at} if pin is not None else None
        ),
    }


async def _drift(store: Store) -> dict[str, Any] | None:
    raw = await store.get_meta(DRIFT_META_KEY)
    try:
        return dict(json.loads(raw)) if raw else None
    except ValueError:
        return None


async def _checklist(store: Store) -> dict[str, Any] | None:
    """The latest checklist, for `slipway status` and the dashboard."""
    latest = await store.list_checklists(limit=1)
    return checklist_summary(latest[0]) if latest else None
