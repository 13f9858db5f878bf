"""Replicas' heartbeats: one row per live `slipway serve`, replaced at every beat."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Row, delete, select

from slipway.core.replicas import ReplicaBeat
from slipway.store.repositories.common import upsert
from slipway.store.schema import replicas


def heartbeat(connection: Connection, beat: ReplicaBeat) -> None:
    upsert(connection, replicas, replicas.c.id, asdict(beat))


def live(connection: Connection, since: float) -> list[ReplicaBeat]:
    """Replicas whose last heartbeat is newer than `since`, oldest replica first."""
    query = (
        select(replicas).where(replicas.c.heartbeat_at > since).order_by(replicas.c.started_at, replicas.c.id)
    )
    return [_beat(row) for row in connection.execute(query)]


def forget(connection: Connection, replica_id: str) -> None:
    connection.execute(delete(replicas).where(replicas.c.id == replica_id))


def forget_silent(connection: Connection, before: float) -> int:
    """Delete the rows of replicas that stopped beating before `before` (crashed, never cleaned up)."""
    return connection.execute(delete(replicas).where(replicas.c.heartbeat_at < before)).rowcount or 0


def _beat(row: Row[Any]) -> ReplicaBeat:
    return ReplicaBeat(
        id=row.id,
        host=row.host,
        pid=row.pid,
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        route_version=row.route_version,
        records_queued=row.records_queued,
        records_dropped=row.records_dropped,
        leader_epoch=row.leader_epoch,
        url=row.url,
    )
