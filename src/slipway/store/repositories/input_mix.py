"""A slot's input mix from its request records: how many requests fell in each category.

Read as the first requests since a time (a version's reference, once it
took all traffic) or as the latest ones (the live window). The index on
(slot, started_at) bounds each read to the rows asked for. Requests a client pinned to a slot
are not the slot's traffic and are left out (`outcomes.routed`). The windows
(`window_first_since`, `window_latest`) also bring each request's stored
input, joined by id in the same read, for drift on the other dimensions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from slipway.core.arms import UNCATEGORIZED
from slipway.core.lifecycle import RequestInput
from slipway.core.records import InputMix, InputWindow
from slipway.store.repositories.outcomes import routed
from slipway.store.schema import request_inputs, requests


def first_since(connection: Connection, slot: str, since: float, limit: int) -> InputMix:
    """The first `limit` requests `slot` got at or after `since`."""
    query = (
        select(requests.c.category, requests.c.started_at)
        .where(requests.c.slot == slot, requests.c.started_at >= since, routed())
        .order_by(requests.c.started_at)
        .limit(limit)
    )
    return _mix(connection.execute(query).all())


def latest(connection: Connection, slot: str, limit: int) -> InputMix:
    """The latest `limit` requests `slot` got."""
    query = (
        select(requests.c.category, requests.c.started_at)
        .where(requests.c.slot == slot, routed())
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


_WINDOW = (
    select(
        requests.c.request_id,
        requests.c.category,
        requests.c.started_at,
        request_inputs.c.input_text,
        request_inputs.c.turns,
    )
    .select_from(requests)
    .outerjoin(request_inputs, request_inputs.c.request_id == requests.c.request_id)
)


def window_first_since(connection: Connection, slot: str, since: float, limit: int) -> InputWindow:
    """The first `limit` requests `slot` got at or after `since`, with their stored inputs."""
    query = (
        _WINDOW.where(requests.c.slot == slot, requests.c.started_at >= since, routed())
        .order_by(requests.c.started_at)
        .limit(limit)
    )
    return _window(connection.execute(query).all())


def window_latest(connection: Connection, slot: str, limit: int) -> InputWindow:
    """The latest `limit` requests `slot` got, with their stored inputs."""
    query = (
        _WINDOW.where(requests.c.slot == slot, routed()).order_by(requests.c.started_at.desc()).limit(limit)
    )
    return _window(connection.execute(query).all())


def _window(rows: Sequence[Row[Any, Any, Any, Any, Any]]) -> InputWindow:
    if not rows:
        return InputWindow({}, (), 0, None, None)
    counts = Counter(row.category or UNCATEGORIZED for row in rows)
    inputs = [
        RequestInput(row.request_id, row.input_text, int(row.turns))
        for row in rows
        if row.input_text is not None
    ]
    times = [float(row.started_at) for row in rows]
    return InputWindow(dict(counts), inputs, len(rows), min(times), max(times))
