"""What requests asked: written with their records, read by id for postmortems and regressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from slipway.core.lifecycle import RequestInput
from slipway.store.schema import request_inputs

#: Ids per IN (...) query: well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500


def write(connection: Connection, inputs: Sequence[RequestInput]) -> None:
    """Insert inputs whose request id is not stored yet (a retried batch must not fail on its own rows)."""
    if not inputs:
        return
    fresh = {i.request_id: i for i in inputs}
    for known in read(connection, fresh):
        del fresh[known]
    if fresh:
        connection.execute(insert(request_inputs), [_to_row(i) for i in fresh.values()])


def read(connection: Connection, request_ids: Iterable[str]) -> dict[str, RequestInput]:
    """The stored inputs of these requests, by id; a request without one is absent."""
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, RequestInput] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in connection.execute(select(request_inputs).where(request_inputs.c.request_id.in_(chunk))):
            found[row.request_id] = RequestInput(
                request_id=row.request_id,
                input_text=row.input_text,
                turns=int(row.turns),
                request=row.request,
            )
    return found


def _to_row(item: RequestInput) -> dict[str, Any]:
    return {
        "request_id": item.request_id,
        "input_text": item.input_text,
        "turns": item.turns,
        "request": dict(item.request) if item.request is not None else None,
    }
