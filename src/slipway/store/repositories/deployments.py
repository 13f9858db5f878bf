"""Deployments: one row per attempt, updated in place as its status moves on."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.store.repositories.common import upsert
from slipway.store.schema import deployments


def save(connection: Connection, deployment: Deployment) -> None:
    upsert(connection, deployments, deployments.c.id, _to_row(deployment))


def get(connection: Connection, deployment_id: str) -> Deployment | None:
    row = connection.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
    return None if row is None else _from_row(row)


def list_newest_first(connection: Connection, limit: int) -> list[Deployment]:
    query = (
        select(deployments).order_by(deployments.c.created_at.desc(), deployments.c.id.desc()).limit(limit)
    )
    return [_from_row(row) for row in connection.execute(query)]


def _to_row(deployment: Deployment) -> dict[str, Any]:
    return {
        "id": deployment.id,
        "version": deployment.version,
        "strategy": str(deployment.strategy),
        "slot": deployment.slot,
        "status": str(deployment.status),
        "created_at": deployment.created_at,
        "updated_at": deployment.updated_at,
        "actor": deployment.actor,
        "previous_slot": deployment.previous_slot,
        "detail": dict(deployment.detail),
    }


def _from_row(row: Row[Any]) -> Deployment:
    return Deployment(
        id=row.id,
        version=row.version,
        strategy=Strategy(row.strategy),
        slot=row.slot,
        status=DeploymentStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        actor=row.actor,
        previous_slot=row.previous_slot,
        detail=dict(row.detail),
    )
