"""One slot over one time window, for canary checks (`core.arms`): counts, a subsample, feedback.

A check reads both arms of a canary over everything since it started, every
15 minutes: with a million requests in the window it must still take well
under a second on SQLite. So the queries here avoid sorting or reading the
whole window row by row (docs/benchmarks.md, "canary statistics"):

* totals and per-category counts come from indexes alone: the slot's
  categories are found by skipping through (slot, category, started_at,
  stream), one probe each, and each category is one range of it; the few
  unfinished requests (errors, aborts) have their own partial index;
* the latency subsample is drawn by request id (random, so the sample is
  uniform and nearly the same from one check to the next): ids below a
  bound, the smallest first, up to the cap, so only the kept rows leave the
  database (sorted: at most about twice the cap). The window's index holds
  no id, so finding them through it reads every row of the window from the
  table; on SQLite the id index is used instead when that costs less, random
  order and all (`_through_id_index`; PostgreSQL's planner chooses itself);
* feedback is joined and merged per request (latest non-null value wins,
  field by field) and labelled answers are scored (`core.labels`) as the rows
  stream in, read through the DBAPI cursor: SQLAlchemy's result rows cost
  about as much again as the query for 100,000 labelled requests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    ClauseElement,
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    literal_column,
    not_,
    select,
    text,
)
from sqlalchemy.sql.compiler import SQLCompiler

from slipway.core.arms import UNCATEGORIZED, WindowTotals
from slipway.core.labels import matches_label
from slipway.store.repositories.outcomes import not_the_clients_or_gateways, routed, slots_failure
from slipway.store.schema import UNFINISHED_SQL, feedback, requests

#: Beyond this many distinct categories in a slot, one GROUP BY beats a probe per category.
MAX_SKIP_CATEGORIES = 200

_FAILED = slots_failure()
_BACKEND_ABORT = and_(requests.c.stream, requests.c.aborted, not_the_clients_or_gateways())


def _in_window(slot: str, since: float, until: float) -> ColumnElement[bool]:
    return and_(
        requests.c.slot == slot, requests.c.started_at >= since, requests.c.started_at < until, routed()
    )


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


#: Request ids are `os.urandom(12).hex()` (`gateway.proxy`): 24 lowercase hex digits, uniformly random.
ID_HEX_DIGITS = 24


def sampling_probability(requests_in_window: int, cap: int) -> float:
    """The share of a window's requests to read for a subsample of `cap` completed ones.

    Over the cap by a margin: unfinished requests are dropped after sampling,
    and the count below the id bound is binomial. `id_threshold` rounds it up
    to a power of two, which only adds rows, so falling short of the cap has
    a chance of at most about 1e-5 (while at most 5 % are unfinished).
    """
    target = 1.05 * cap + 4 * math.sqrt(cap) + 10
    return min(1.0, target / requests_in_window) if requests_in_window else 1.0


def id_threshold(probability: float) -> str | None:
    """The id bound for sampling with `probability`, rounded up to a power of two.

    p = 2^-k is the smallest power of two not below `probability`, and the
    bound is 2^96 * p written like an id (24 hex digits): an id is below it
    with probability p, and for ids of equal length a string comparison is a
    numeric one. None when p = 1 (keep everything).
    """
    bits = 4 * ID_HEX_DIGITS
    k = 0
    while k < bits and 2.0 ** -(k + 1) >= probability:
        k += 1
    return format(1 << (bits - k), f"0{ID_HEX_DIGITS}x") if k else None


def subsample(
    connection: Connection,
    slot: str,
    since: float,
    until: float,
    *,
    probability: float,
    cap: int,
    requests_in_window: int | None = None,
) -> list[tuple[float, float | None, int, str]]:
    """(latency_ms, ttft_ms, output_chars, output_head) of a uniform random subsample of completed requests.

    Drawn by request id, which the gateway makes uniformly random, so the
    sample is random but the same from one read to the next, not drawn afresh:
    the completed requests of the window whose id is below
    `id_threshold(probability)` (a share p >= `probability`, a power of two;
    no bound when p = 1), and of those the `cap` with the smallest ids (a
    bottom-k sample), smallest id first. Uniform over the completed requests
    either way.

    So the sample is every completed request of the window with an id below
    a bound, and as a cumulative window grows that bound only falls (p halves,
    O(log n) times over a canary, and each new request below the cap-th
    smallest id evicts the largest one): a later read holds every request of
    an earlier read whose id is below the new bound, plus new requests. The
    earlier sample loses its largest ids; it is never redrawn. Ids of another
    form (tests' 'r1') are compared as strings like the rest; they sample
    uniformly only if they are uniformly random too.

    `requests_in_window` (the slot's requests in the window, all of them) lets
    SQLite choose how to find the sample (`_through_id_index`).
    """
    threshold = id_threshold(probability)
    window: ColumnElement[bool] = _in_window(slot, since, until)
    if threshold is not None and _through_id_index(connection, probability, cap, requests_in_window):
        # Unary + keeps SQLite from using an index on these terms: the id's is the one left.
        window = and_(
            literal_column("+requests.slot") == slot,
            literal_column("+requests.started_at") >= since,
            literal_column("+requests.started_at") < until,
            routed(),
        )
    query = (
        select(requests.c.latency_ms, requests.c.ttft_ms, requests.c.output_chars, requests.c.output_head)
        .where(window, requests.c.status < 400, requests.c.error.is_(None), not_(requests.c.aborted))
        .order_by(requests.c.request_id)
        .limit(cap)
    )
    if threshold is not None:
        query = query.where(requests.c.request_id < threshold)
    return [
        (float(latency), ttft, int(chars), str(head))
        for latency, ttft, chars, head in connection.execute(query)
    ]


#: Reading a row through the id index (in random order) costs about this many times reading one
#: through the window's (slot, started_at) index (in time order) on SQLite: 5-14x with 1M records.
RANDOM_ROW_COST = 6


def _through_id_index(
    connection: Connection, probability: float, cap: int, requests_in_window: int | None
) -> bool:
    """On SQLite, whether to find the subsample through the id index rather than the window's.

    The window's (slot, started_at) index holds no id, so every request of the
    window is read from the table to compare its id: `requests_in_window`
    rows. The id index (the primary key) yields the ids below the bound in
    order, from every slot and time, and the query stops at the cap: about
    min(p, cap / n) of the whole table, but in random order. PostgreSQL's
    planner has statistics and chooses by itself.
    """
    if connection.dialect.name != "sqlite" or not requests_in_window:
        return False
    # The largest rowid is the table's size, give or take deletions: one index probe.
    table = int(connection.execute(text("SELECT max(rowid) FROM requests")).scalar_one() or 0)
    read_by_id = min(probability, cap / requests_in_window) * table
    return read_by_id * RANDOM_ROW_COST < requests_in_window


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
    window = f"r.slot IN ({listed}) AND r.started_at >= :since AND r.started_at < :until AND NOT r.pinned"
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
