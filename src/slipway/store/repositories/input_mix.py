"""A slot's input mix from its request records: how many requests fell in each category.

Read as the first requests since a time (a version's reference, once it
took all traffic) or as the latest ones (the live window). The index on
(slot, started_at) bounds each read to the rows asked for.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from slipway.core.arms import UNCATEGORIZED
from slipway.core.records import InputMix
from slipway.store.schema import requests


def first_since(connection: Connection, slot: str, since: float, limit: int) -> InputMix:
    """The first `limit` requests `slot` got at or after `since`."""
    query = (
        select(requests.c.category, requests.c.started_at)
        .where(requests.c.slot == slot, requests.c.started_at >= since)
        .order_by(requests.c.started_at)
        .limit(limit)
    )
    return _mix(connection.execute(query).all())


def latest(connection: Connection, slot: str, limit: int) -> InputMix:
    """The latest `limit` requests `slot` got."""
    query = (
        select(requests.c.category, requests.c.started_at)
        .where(requests.c.slot == slot)
        .order_by(requests.c.started_at.desc())
        .limit(limit)
    )
    return _mix(connection.execute(query).all())


def _mix(rows: Sequence[Row[Any, Any]]) -> InputMix:
    if not rows:
        return InputMix({}, 0, None, None)
    counts = Counter(row.category or UNCATEGORIZED for row in rows)
    times = [float(row.started_at) for row in rows]
    return InputMix({"category": dict(counts)}, len(rows), min(times), max(times))
