"""Canaries: state under optimistic concurrency by revision, and an append-only timeline.

The controller and an operator (on this replica or another) may both read
revision N and save N+1; the save is `UPDATE ... WHERE revision = N`, so one
of them gets ConflictError and must reload, exactly like the route table.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from slipway.core.canary import CanaryEvent, CanaryRecord, CanaryVerdict
from slipway.core.errors import ConflictError
from slipway.store.repositories import rollout_marks
from slipway.store.schema import canaries, canary_events


def save(connection: Connection, record: CanaryRecord, *, expected_revision: int) -> CanaryRecord:
    values = {
        "deployment_id": record.deployment_id,
        "status": record.status,
        "revision": expected_revision + 1,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "state": dict(record.state),
    }
    if expected_revision == 0:
        try:
            with connection.begin_nested():
                connection.execute(insert(canaries).values(**values))
        except IntegrityError:
            raise _conflict(record.deployment_id, 0, _revision(connection, record.deployment_id)) from None
    else:
        changed = connection.execute(
            update(canaries)
            .where(
                canaries.c.deployment_id == record.deployment_id,
                canaries.c.revision == expected_revision,
            )
            .values(**values)
        )
        if changed.rowcount != 1:
            current = _revision(connection, record.deployment_id)
            raise _conflict(record.deployment_id, expected_revision, current)
    rollout_marks.bump(connection)
    return replace(record, revision=expected_revision + 1)


def latest(connection: Connection) -> CanaryRecord | None:
    query = select(canaries).order_by(canaries.c.created_at.desc(), canaries.c.deployment_id.desc()).limit(1)
    row = connection.execute(query).first()
    return None if row is None else _record(row)


def add_event(connection: Connection, event: CanaryEvent) -> None:
    connection.execute(
        insert(canary_events).values(
            deployment_id=event.deployment_id,
            at=event.at,
            kind=event.kind,
            phase=event.phase,
            weight_bp=event.weight_bp,
            actor=event.actor,
            reason=event.reason,
            verdict=event.verdict.to_dict() if event.verdict else None,
        )
    )


def events(connection: Connection, deployment_id: str, limit: int) -> list[CanaryEvent]:
    query = (
        select(canary_events)
        .where(canary_events.c.deployment_id == deployment_id)
        .order_by(canary_events.c.at.desc(), canary_events.c.id.desc())
        .limit(limit)
    )
    return [
        CanaryEvent(
            deployment_id=row.deployment_id,
            at=row.at,
            kind=row.kind,
            phase=row.phase,
            weight_bp=row.weight_bp,
            actor=row.actor,
            reason=row.reason,
            verdict=CanaryVerdict.from_dict(row.verdict) if row.verdict else None,
        )
        for row in connection.execute(query)
    ]


def _revision(connection: Connection, deployment_id: str) -> int:
    found = connection.execute(
        select(canaries.c.revision).where(canaries.c.deployment_id == deployment_id)
    ).scalar_one_or_none()
    return int(found) if found is not None else 0


def _conflict(deployment_id: str, expected: int, current: int) -> ConflictError:
    return ConflictError(
        f"canary {deployment_id} changed since revision {expected} (now {current}); reload and retry",
        hint="someone else acted on the canary at the same moment; see `slipway canary status`",
    )


def _record(row: Row[Any]) -> CanaryRecord:
    return CanaryRecord(
        deployment_id=row.deployment_id,
        status=row.status,
        revision=row.revision,
        created_at=row.created_at,
        updated_at=row.updated_at,
        state=dict(row.state),
    )
