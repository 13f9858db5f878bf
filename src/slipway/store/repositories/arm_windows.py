"""One slot over one time window, for canary checks (`core.arms`): counts, a subsample, feedback.

A check reads both arms of a canary over everything since it started, every
15 minutes: with a million requests in the window it must still take well
under a second on SQLite. So no query here sorts or reads the whole window
row by row (docs/benchmarks.md, "canary statistics"):

* totals and per-category counts come from indexes alone: the slot's
  categories are found by skipping through (slot, category, started_at,
  stream), one probe each, and each category is one range of it; the few
  unfinished requests (errors, aborts) have their own partial index;
* the latency subsample is drawn by the database's random(), so only the
  kept rows leave it;
* feedback is joined and merged per request (latest non-null value wins,
  field by field) and labelled answers are scored (`core.labels`) as the rows
  stream in, read through the DBAPI cursor: SQLAlchemy's result rows cost
  about as much again as the query for 100,000 labelled requests.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ClauseElement, ColumnElement, Connection, and_, case, func, or_, select, text
from sqlalchemy.sql.compiler import SQLCompiler

from slipway.core.arms import UNCATEGORIZED, WindowTotals
from slipway.core.labels import matches_label
from slipway.store.schema import UNFINISHED_SQL, feedback, requests

#: Beyond this many distinct categories in a slot, one GROUP BY beats a probe per category.
MAX_SKIP_CATEGORIES = 200

_FAILED = or_(
    requests.c.status >= 400,
    and_(requests.c.error.is_not(None), requests.c.error != "client_disconnected"),
)
_BACKEND_ABORT = and_(
    requests.c.stream,
    requests.c.aborted,
    or_(requests.c.error.is_(None), requests.c.error != "client_disconnected"),
)


def _in_window(slot: str, since: float, until: float) -> ColumnElement[bool]:
    return and_(requests.c.slot == slot, requests.c.started_at >= since, requests.c.started_at < until)


def _sum_of(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def count(connection: Connection, slot: str, since: float, until: float) -> int:
    """Requests the slot started in [since, until); from the (slot, started_at) index alone."""
    query = select(func.count()).select_from(requests).where(_in_window(slot, since, until))
    return int(connection.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class WindowCounts:
    totals: WindowTotals
    categories: dict[str, int]


def counts(connection: Connection, slot: str, since: float, until: float) -> WindowCounts:
    """Totals (requests, errors, completed, streams, aborted streams) and requests per category."""
    per_category: dict[str, tuple[int, int]] = {}
    names = _categories(connection, slot)
    if names is None:
        grouped = (
            select(requests.c.category, func.count(), _sum_of(requests.c.stream))
            .where(_in_window(slot, since, until))
            .group_by(requests.c.category)
        )
        for name, n, streams in connection.execute(grouped):
            per_category[UNCATEGORIZED if name is None else name] = (int(n), int(streams))
    else:
        for name in names:
            same = requests.c.category.is_(None) if name is None else requests.c.category == name
            query = select(func.count(), _sum_of(requests.c.stream)).where(
                _in_window(slot, since, until), same
            )
            n, streams = connection.execute(query).one()
            if n:
                per_category[UNCATEGORIZED if name is None else name] = (int(n), int(streams))
    # The partial index's own predicate, word for word, so that the planner uses it.
    unfinished = select(func.count(), _sum_of(_FAILED), _sum_of(_BACKEND_ABORT)).where(
        _in_window(slot, since, until), text(f"({UNFINISHED_SQL})")
    )
    n_unfinished, errors, aborted = connection.execute(unfinished).one()
    total = sum(n for n, _ in per_category.values())
    totals = WindowTotals(
        requests=total,
        errors=int(errors),
        completed=total - int(n_unfinished),
        streams=sum(s for _, s in per_category.values()),
        aborted_streams=int(aborted),
    )
    return WindowCounts(totals, {name: n for name, (n, _) in per_category.items()})


def _categories(connection: Connection, slot: str) -> list[str | None] | None:
    """Every category the slot ever served (None first), by skipping through the index; None if too many."""
    names: list[str | None] = [None]
    last: str | None = None
    while len(names) <= MAX_SKIP_CATEGORIES:
        probe = select(func.min(requests.c.category)).where(requests.c.slot == slot)
        if last is not None:
            probe = probe.where(requests.c.category > last)
        last = connection.execute(probe).scalar_one()
        if last is None:
            return names
        names.append(last)
    return None


def subsample(
    connection: Connection, slot: str, since: float, until: float, *, probability: float, cap: int
) -> list[tuple[float, float | None, int, str]]:
    """(latency_ms, ttft_ms, output_chars, output_head) of a uniform random subsample of completed requests.

    Every request in the window is kept with `probability` (the database's
    random(), so only kept rows are read from the table), the unfinished ones
    are dropped, and if more than `cap` remain a uniform choice of `cap` is
    returned: uniform over the completed requests either way.
    """
    query = select(
        requests.c.latency_ms,
        requests.c.ttft_ms,
        requests.c.output_chars,
        requests.c.output_head,
        requests.c.status,
        requests.c.error,
        requests.c.aborted,
    ).where(_in_window(slot, since, until))
    if probability < 1.0:
        query = query.where(_random_below(connection, probability))
    rows = [
        (float(latency), ttft, int(chars), str(head))
        for latency, ttft, chars, head, status, error, aborted in connection.execute(query)
        if status < 400 and error is None and not aborted
    ]
    if len(rows) > cap:
        rows = random.sample(rows, cap)
    return rows


def _random_below(connection: Connection, probability: float) -> ColumnElement[bool]:
    """A condition true for each row independently with `probability`."""
    if connection.dialect.name == "sqlite":
        # SQLite's random() is a uniform signed 64-bit integer.
        return func.random() < int(-(2**63) + probability * 2.0**64)
    return func.random() < probability


@dataclass(slots=True)
class WindowFeedback:
    #: Per category: (labelled completed requests, answers matching their label).
    accuracy: dict[str, list[int]]
    rated: int = 0
    satisfied: int = 0


_FEEDBACK_COLUMNS = (
    "f.request_id, f.at, f.id, f.label, f.satisfied, r.category, "
    # Only a labelled answer is scored: the other heads need not leave the database.
    "CASE WHEN f.label IS NOT NULL THEN r.output_head ELSE '' END, "
    "CASE WHEN r.status < 400 AND r.error IS NULL AND NOT r.aborted THEN 1 ELSE 0 END, "
    "r.slot"
)


def feedback_in(
    connection: Connection, slots: Sequence[str], since: float, until: float, *, requests_in_window: int
) -> dict[str, WindowFeedback]:
    """Feedback on the slots' requests in the window, merged per request field by field, per slot.

    One query for every slot: the join is the most expensive read of a check,
    and both arms of a canary share the window. It can start from either
    table. SQLite's planner, without statistics, starts from the window's
    requests and probes feedback once per request; when the whole feedback
    table is smaller than the window (`requests_in_window`, all slots; a long
    canary on a young store) starting from feedback is about twice as fast,
    so on SQLite that order is forced then (CROSS JOIN). PostgreSQL's planner
    chooses by itself.
    """
    params: dict[str, Any] = {f"slot{i}": slot for i, slot in enumerate(slots)}
    params.update(since=since, until=until)
    listed = ", ".join(f":slot{i}" for i in range(len(slots)))
    window = f"r.slot IN ({listed}) AND r.started_at >= :since AND r.started_at < :until"
    if connection.dialect.name == "sqlite" and _feedback_rows(connection) < requests_in_window:
        sql = f"SELECT {_FEEDBACK_COLUMNS} FROM feedback f CROSS JOIN requests r "
        sql += f"WHERE r.request_id = f.request_id AND {window}"
    else:
        sql = f"SELECT {_FEEDBACK_COLUMNS} FROM requests r JOIN feedback f ON f.request_id = r.request_id "
        sql += f"WHERE {window}"
    first: dict[str, tuple[Any, ...]] = {}
    later: dict[str, list[tuple[Any, ...]]] = {}
    for row in _driver_rows(connection, text(sql).bindparams(**params)):
        if row[0] in first:
            later.setdefault(row[0], []).append(row)
        else:
            first[row[0]] = row
    out = {slot: WindowFeedback({}) for slot in slots}
    for request_id, row in first.items():
        _, _, _, label, happy, category, head, completed, slot = row
        if request_id in later:
            label, happy, head = _latest_fields([row, *later[request_id]])
        tally = out[slot]
        if happy is not None:
            tally.rated += 1
            tally.satisfied += bool(happy)
        if label is not None and completed:
            score = tally.accuracy.setdefault(UNCATEGORIZED if category is None else category, [0, 0])
            score[0] += 1
            score[1] += matches_label(head, label)
    return out


def _feedback_rows(connection: Connection) -> int:
    # The largest id is the table's size, give or take deletions: one index probe.
    return int(connection.execute(select(func.max(feedback.c.id))).scalar_one() or 0)


def _latest_fields(rows: list[tuple[Any, ...]]) -> tuple[str | None, bool | None, str]:
    """The latest non-null label (with its answer) and satisfaction among one request's rows."""
    label = satisfied = None
    head = ""
    for row in sorted(rows, key=lambda r: (r[1], r[2])):
        if row[3] is not None:
            label, head = row[3], row[6]
        if row[4] is not None:
            satisfied = row[4]
    return label, satisfied, head


def _driver_rows(connection: Connection, query: ClauseElement) -> list[tuple[Any, ...]]:
    """Run a query on the DBAPI cursor and return the driver's rows (plain tuples, untyped:
    SQLite booleans are 0/1), skipping SQLAlchemy's result rows."""
    compiled = cast(SQLCompiler, query.compile(dialect=connection.dialect))
    params = compiled.construct_params() or {}
    args: Any = tuple(params[name] for name in compiled.positiontup or ()) if compiled.positional else params
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.string, args)
        return cast(list[tuple[Any, ...]], cursor.fetchall())
    finally:
        cursor.close()
