"""Notification delivery outcomes: appended in batches, read newest first, the oldest pruned.

A busy installation sends a few hundred notifications a day; keeping the
newest `KEEP` rows is weeks of history at a bounded size, with no job to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select

from slipway.core.deliveries import Delivery, Outcome
from slipway.store.schema import notification_deliveries as rows

#: Rows kept; older ones are deleted as new ones are written.
KEEP = 10_000


def add(connection: Connection, deliveries: Sequence[Delivery]) -> None:
    values = [
        {
            "at": d.at, "sink": d.sink, "event": d.event, "title": d.title,
            "outcome": str(d.outcome), "attempts": d.attempts, "error": d.error,
        }
        for d in (delivery.bounded() for delivery in deliveries)
    ]  # fmt: skip
    connection.execute(insert(rows), values)
    newest = select(func.max(rows.c.id)).scalar_subquery()
    connection.execute(delete(rows).where(rows.c.id <= newest - KEEP))


def newest_first(connection: Connection, limit: int) -> list[Delivery]:
    query = select(rows).order_by(rows.c.id.desc()).limit(limit)
    return [_delivery(row) for row in connection.execute(query)]


def _delivery(row: Row[Any]) -> Delivery:
    return Delivery(
        sink=row.sink,
        event=row.event,
        title=row.title,
        outcome=Outcome(row.outcome),
        attempts=row.attempts,
        error=row.error,
        at=row.at,
    )
