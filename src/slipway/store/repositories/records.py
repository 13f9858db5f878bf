"""Request records and their feedback: the raw material of every analysis.

Records arrive in batches from the gateway's recorder and are written in one
transaction with a single executemany, which is what keeps SQLite well above
20,000 rows/s. A batch that is retried after a failure whose commit actually
succeeded must not fail forever on duplicate keys, so duplicates are skipped:
`write` is idempotent.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import Connection, Row, case, func, insert, select

from slipway.core.lifecycle import RequestInput
from slipway.core.records import Feedback, RequestRecord
from slipway.store.repositories import bulk, meta, request_inputs
from slipway.store.repositories.outcomes import slots_failure
from slipway.store.schema import feedback, requests

_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
_ROW = operator.attrgetter(*_RECORD_FIELDS)


def write(
    connection: Connection,
    records: Sequence[RequestRecord],
    checkpoint: tuple[str, str] | None = None,
    inputs: Sequence[RequestInput] = (),
) -> int:
    """Insert the records, what they asked, and set the `checkpoint` meta key, in one transaction;
    returns how many records were new.

    The checkpoint is how a writer leaves proof of what it had written: it
    commits with the rows or not at all, so after a crash it is never ahead of
    them. Inputs go in the same transaction, so a record is never stored
    without the input the gateway kept for it (nor an input without its record).
    """
    written = write_rows(connection, [_ROW(record) for record in records])
    request_inputs.write(connection, inputs)
    if checkpoint is not None:
        meta.set_(connection, *checkpoint)
    return written


def write_rows(connection: Connection, rows: Sequence[Sequence[Any]]) -> int:
    """Insert rows of `RequestRecord` fields in declaration order; returns how many were new.

    One `executemany` on the driver's own cursor (`bulk.insert_skipping_known`):
    this is the hottest write slipway makes. A row whose id is already stored
    (or earlier in the batch) is skipped.
    """
    return bulk.insert_skipping_known(connection, "requests", _RECORD_FIELDS, "request_id", rows)


def exists(connection: Connection, request_id: str) -> bool:
    query = select(requests.c.request_id).where(requests.c.request_id == request_id)
    return connection.execute(query).first() is not None


def get(connection: Connection, request_id: str) -> RequestRecord | None:
    row = connection.execute(select(requests).where(requests.c.request_id == request_id)).first()
    return None if row is None else _record_from_row(row)


def list_since(
    connection: Connection, *, since: float, until: float | None, slot: str | None, limit: int | None
) -> list[RequestRecord]:
    query = select(requests).where(requests.c.started_at >= since)
    if until is not None:
        query = query.where(requests.c.started_at < until)
    if slot is not None:
        query = query.where(requests.c.slot == slot)
    query = query.order_by(requests.c.started_at, requests.c.request_id).limit(limit)
    return [_record_from_row(row) for row in connection.execute(query)]


def counts(connection: Connection, since: float) -> dict[str, dict[str, int]]:
    failed = slots_failure()
    query = (
        select(
            requests.c.slot,
            func.count().label("total"),
            func.coalesce(func.sum(case((failed, 1), else_=0)), 0).label("errors"),
        )
        .where(requests.c.started_at >= since)
        .group_by(requests.c.slot)
    )
    return {
        row.slot: {"total": int(row.total), "errors": int(row.errors)} for row in connection.execute(query)
    }


def traffic_since(connection: Connection, since: float) -> tuple[int, float | None]:
    """How many requests started since `since`, and when the first of them did (None if none)."""
    query = select(func.count(), func.min(requests.c.started_at)).where(requests.c.started_at >= since)
    count, first = connection.execute(query).one()
    return int(count), None if first is None else float(first)


def add_feedback(connection: Connection, item: Feedback) -> bool:
    # Checked rather than left to the foreign key: on PostgreSQL a violation
    # would abort the transaction, and "unknown id" is an answer, not an error.
    if not exists(connection, item.request_id):
        return False
    connection.execute(
        insert(feedback).values(
            request_id=item.request_id,
            at=item.at,
            satisfied=item.satisfied,
            label=item.label,
            score=item.score,
        )
    )
    return True


def latest_feedback(connection: Connection, request_id: str) -> Feedback | None:
    """All feedback for a request merged field by field: a later value wins, a later null does not.

    A label from a reviewer and a thumbs-down from the user often arrive as
    separate posts; neither should erase the other.
    """
    query = select(feedback).where(feedback.c.request_id == request_id).order_by(feedback.c.at, feedback.c.id)
    merged: Feedback | None = None
    for row in connection.execute(query):
        merged = _merge(merged, Feedback(row.request_id, row.at, row.satisfied, row.label, row.score))
    return merged


def _merge(old: Feedback | None, new: Feedback) -> Feedback:
    if old is None:
        return new
    return Feedback(
        request_id=new.request_id,
        at=new.at,
        satisfied=new.satisfied if new.satisfied is not None else old.satisfied,
        label=new.label if new.label is not None else old.label,
        score=new.score if new.score is not None else old.score,
    )


def with_feedback(
    connection: Connection, *, since: float, until: float | None
) -> list[tuple[RequestRecord, Feedback]]:
    """Requests started in [since, until) that have feedback, each with its feedback merged (latest wins)."""
    query = (
        select(
            requests, feedback.c.at.label("fb_at"), feedback.c.satisfied, feedback.c.label, feedback.c.score
        )
        .join(feedback, feedback.c.request_id == requests.c.request_id)
        .where(requests.c.started_at >= since)
        .order_by(feedback.c.at, feedback.c.id)
    )
    if until is not None:
        query = query.where(requests.c.started_at < until)
    latest: dict[str, tuple[RequestRecord, Feedback]] = {}
    for row in connection.execute(query):
        data = row._asdict()
        fb = Feedback(
            request_id=data["request_id"],
            at=data.pop("fb_at"),
            satisfied=data.pop("satisfied"),
            label=data.pop("label"),
            score=data.pop("score"),
        )
        earlier = latest.get(fb.request_id)
        latest[fb.request_id] = (RequestRecord(**data), _merge(earlier[1] if earlier else None, fb))
    return sorted(latest.values(), key=lambda pair: (pair[0].started_at, pair[0].request_id))


def _record_from_row(row: Row[Any]) -> RequestRecord:
    return RequestRecord(**row._asdict())
