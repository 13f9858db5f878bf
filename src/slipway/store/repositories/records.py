"""Request records and their feedback: the raw material of every analysis.

Records arrive in batches from the gateway's recorder and are written in one
transaction with a single executemany, which is what keeps SQLite well above
20,000 rows/s. A batch that is retried after a failure whose commit actually
succeeded must not fail forever on duplicate keys, so duplicates are skipped:
`write` is idempotent.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select, and_, case, func, insert, not_, or_, select
from sqlalchemy.exc import IntegrityError

from slipway.core.arms import UNCATEGORIZED, FeedbackRow, WindowTotals
from slipway.core.records import Feedback, RequestRecord
from slipway.store.schema import feedback, requests

_RECORD_FIELDS = tuple(f.name for f in fields(RequestRecord))
#: Well below SQLite's bound-parameter limit, and a reasonable IN list for PostgreSQL.
_ID_CHUNK = 500


def write(connection: Connection, records: Sequence[RequestRecord]) -> int:
    """Insert the records; returns how many were new."""
    rows = [{name: getattr(record, name) for name in _RECORD_FIELDS} for record in records]
    if not rows:
        return 0
    try:
        with connection.begin_nested():
            connection.execute(insert(requests), rows)
        return len(rows)
    except IntegrityError:
        pass
    fresh = _without_known_ids(connection, rows)
    if fresh:
        connection.execute(insert(requests), fresh)
    return len(fresh)


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
    # A client that hung up is not the slot's failure.
    failed = or_(
        requests.c.status >= 400,
        and_(requests.c.error.is_not(None), requests.c.error != "client_disconnected"),
    )
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


def _without_known_ids(connection: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for row in rows:
        unique.setdefault(row["request_id"], row)  # the first occurrence wins
    known: set[str] = set()
    for chunk in _chunks(list(unique), _ID_CHUNK):
        query = select(requests.c.request_id).where(requests.c.request_id.in_(chunk))
        known.update(connection.execute(query).scalars())
    return [row for request_id, row in unique.items() if request_id not in known]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _record_from_row(row: Row[Any]) -> RequestRecord:
    return RequestRecord(**row._asdict())


# -- one slot over one window, for canary analysis (core.arms) -------------------------------

_FAILED = or_(
    requests.c.status >= 400,
    and_(requests.c.error.is_not(None), requests.c.error != "client_disconnected"),
)
_COMPLETED = and_(requests.c.status < 400, requests.c.error.is_(None), not_(requests.c.aborted))
_BACKEND_ABORT = and_(
    requests.c.stream,
    requests.c.aborted,
    or_(requests.c.error.is_(None), requests.c.error != "client_disconnected"),
)


#: Beyond this many distinct categories in a slot, one GROUP BY beats a probe per category.
_MAX_SKIP_CATEGORIES = 200


def _in_window(slot: str, since: float, until: float) -> ColumnElement[bool]:
    return and_(requests.c.slot == slot, requests.c.started_at >= since, requests.c.started_at < until)


def _sum_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def window_count(connection: Connection, slot: str, since: float, until: float) -> int:
    """Requests the slot started in [since, until); answered from the (slot, started_at) index alone."""
    query = select(func.count()).select_from(requests).where(_in_window(slot, since, until))
    return int(connection.execute(query).scalar_one())


def window_totals(connection: Connection, slot: str, since: float, until: float) -> WindowTotals:
    query = select(
        func.count(),
        _sum_of(_FAILED),
        _sum_of(_COMPLETED),
        _sum_of(requests.c.stream),
        _sum_of(_BACKEND_ABORT),
    ).where(_in_window(slot, since, until))
    total, errors, completed, streams, aborted = connection.execute(query).one()
    return WindowTotals(int(total), int(errors), int(completed), int(streams), int(aborted))


def window_categories(connection: Connection, slot: str, since: float, until: float) -> dict[str, int]:
    """Requests per category (`UNCATEGORIZED` for none) that the slot started in [since, until).

    Not one GROUP BY, which would sort every row of the window: the slot's
    categories are found by skipping through the (slot, category, started_at)
    index, one probe each, and each category's count is one range of that
    index. Many distinct categories fall back to the GROUP BY.
    """
    names: list[str | None] = [None]
    last: str | None = None
    while len(names) <= _MAX_SKIP_CATEGORIES:
        probe = select(func.min(requests.c.category)).where(requests.c.slot == slot)
        if last is not None:
            probe = probe.where(requests.c.category > last)
        last = connection.execute(probe).scalar_one()
        if last is None:
            break
        names.append(last)
    else:
        grouped = (
            select(requests.c.category, func.count())
            .where(_in_window(slot, since, until))
            .group_by(requests.c.category)
        )
        return {
            UNCATEGORIZED if category is None else category: int(n)
            for category, n in connection.execute(grouped)
        }
    counts: dict[str, int] = {}
    for name in names:
        same = requests.c.category.is_(None) if name is None else requests.c.category == name
        query = select(func.count()).select_from(requests).where(_in_window(slot, since, until), same)
        n = int(connection.execute(query).scalar_one())
        if n:
            counts[UNCATEGORIZED if name is None else name] = n
    return counts


def window_subsample(
    connection: Connection, slot: str, since: float, until: float, *, probability: float, cap: int
) -> list[tuple[float, float | None, int, str]]:
    """(latency_ms, ttft_ms, output_chars, output_head) of a uniform random subsample of completed requests.

    Each completed request is kept with `probability` (decided by the
    database's random(), so only the kept rows leave it); if more than `cap`
    were kept, a uniform choice of `cap` among them is returned.
    """
    query = select(
        requests.c.latency_ms, requests.c.ttft_ms, requests.c.output_chars, requests.c.output_head
    ).where(_in_window(slot, since, until), _COMPLETED)
    if probability < 1.0:
        query = query.where(_random_below(connection, probability))
    rows = [(float(r[0]), r[1], int(r[2]), str(r[3])) for r in connection.execute(query)]
    if len(rows) > cap:
        rows = random.sample(rows, cap)
    return rows


def _random_below(connection: Connection, probability: float) -> ColumnElement[bool]:
    """A condition true for each row independently with `probability`."""
    if connection.dialect.name == "sqlite":
        # SQLite's random() is a uniform signed 64-bit integer.
        return func.random() < int(-(2**63) + probability * 2.0**64)
    return func.random() < probability


def window_feedback(connection: Connection, slot: str, since: float, until: float) -> list[FeedbackRow]:
    """Requests in the window that have feedback, each once, its feedback merged field by field."""
    query = (
        select(
            feedback.c.request_id,
            feedback.c.at,
            feedback.c.id,
            feedback.c.label,
            feedback.c.satisfied,
            requests.c.category,
            # Only a labelled answer is scored: the rest need not leave the database.
            case((feedback.c.label.is_not(None), requests.c.output_head), else_=""),
            requests.c.output_chars,
            case((_COMPLETED, 1), else_=0),
        )
        .select_from(requests.join(feedback, feedback.c.request_id == requests.c.request_id))
        .where(_in_window(slot, since, until))
    )
    first: dict[str, tuple[Any, ...]] = {}
    later: dict[str, list[tuple[Any, ...]]] = {}
    for row in _driver_rows(connection, query):
        if row[0] in first:
            later.setdefault(row[0], []).append(row)
        else:
            first[row[0]] = row
    out = []
    for request_id, row in first.items():
        _, _, _, label, satisfied, category, head, chars, completed = row
        if request_id in later:
            label, satisfied = _latest_fields([row, *later[request_id]])
        out.append(
            FeedbackRow(
                UNCATEGORIZED if category is None else category,
                completed == 1,
                head,
                chars > len(head),
                label,
                None if satisfied is None else bool(satisfied),
            )
        )
    return out


def _latest_fields(rows: list[tuple[Any, ...]]) -> tuple[str | None, bool | None]:
    """The latest non-null label and satisfaction among one request's feedback rows (by at, then id)."""
    label = satisfied = None
    for row in sorted(rows, key=lambda r: (r[1], r[2])):
        if row[3] is not None:
            label = row[3]
        if row[4] is not None:
            satisfied = row[4]
    return label, satisfied


def _driver_rows(connection: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """Run a query on the DBAPI cursor and return plain tuples, untyped.

    For the one query that returns a row per labelled request (100,000+ in a
    long canary): SQLAlchemy's result rows cost about as much again as the
    query itself. Values come back as the driver gives them (SQLite booleans
    are 0/1), so callers convert what they need.
    """
    compiled = query.compile(dialect=connection.dialect)
    params = compiled.construct_params()
    args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.string, args)
        return [tuple(row) for row in cursor.fetchall()]
    finally:
        cursor.close()
