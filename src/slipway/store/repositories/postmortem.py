"""What a postmortem reads of one version's run: aggregates in SQL, labelled answers, a few ids.

A rolled-back canary can hold 100,000 records; reading them all to count
would dominate a postmortem. So counts per category (requests, errors,
first and last request, distinct sticky keys) are one GROUP BY, and only
the labelled answers (the rows the correctness rule needs: answer head,
label, whether the request completed) leave the database. Inputs are read
later, by id, for the failing answers and a bounded sample of passing ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, case, func, select, text

from slipway.core.arms import UNCATEGORIZED
from slipway.core.postmortem import LabelledAnswer, ServedCounts
from slipway.store.repositories.outcomes import routed, slots_failure
from slipway.store.schema import requests


def _window(slot: str | None, version: str | None, since: float, until: float | None) -> list[Any]:
    where = [requests.c.started_at >= since, routed()]
    if slot is not None:
        where.append(requests.c.slot == slot)
    if version is not None:
        where.append(requests.c.version == version)
    if until is not None:
        where.append(requests.c.started_at < until)
    return where


def served(
    connection: Connection, slot: str, version: str | None, since: float, until: float | None
) -> ServedCounts:
    """Requests, the slot's errors, first and last start per category, and distinct sticky keys."""
    where = _window(slot, version, since, until)
    query = (
        select(
            requests.c.category,
            func.count().label("n"),
            func.coalesce(func.sum(case((slots_failure(), 1), else_=0)), 0).label("errors"),
            func.min(requests.c.started_at).label("first"),
            func.max(requests.c.started_at).label("last"),
        )
        .where(*where)
        .group_by(requests.c.category)
    )
    per_category: dict[str, tuple[int, int]] = {}
    first: float | None = None
    last: float | None = None
    for row in connection.execute(query):
        name = row.category or UNCATEGORIZED
        n, errors = per_category.get(name, (0, 0))
        per_category[name] = (n + int(row.n), errors + int(row.errors))
        first = float(row.first) if first is None else min(first, float(row.first))
        last = float(row.last) if last is None else max(last, float(row.last))
    keys = select(func.count(func.distinct(requests.c.sticky_key))).where(*where)
    sticky = int(connection.execute(keys).scalar_one() or 0)
    return ServedCounts(per_category=per_category, sticky_keys=sticky, first_at=first, last_at=last)


def labelled(
    connection: Connection, slot: str, version: str | None, since: float, until: float | None
) -> list[LabelledAnswer]:
    """Each labelled request of the window with its latest label, oldest first."""
    params: dict[str, Any] = {"slot": slot, "since": since}
    sql = (
        "SELECT r.request_id, r.started_at, r.category, r.output_head, f.label, "
        "CASE WHEN r.status < 400 AND r.error IS NULL AND NOT r.aborted THEN 1 ELSE 0 END, r.sticky_key "
        "FROM requests r JOIN feedback f ON f.request_id = r.request_id "
        "WHERE r.slot = :slot AND r.started_at >= :since AND f.label IS NOT NULL AND NOT r.pinned"
    )
    if version is not None:
        sql += " AND r.version = :version"
        params["version"] = version
    if until is not None:
        sql += " AND r.started_at < :until"
        params["until"] = until
    sql += " ORDER BY f.at, f.id"
    latest: dict[str, LabelledAnswer] = {}
    for row in connection.execute(text(sql).bindparams(**params)):
        latest[row[0]] = LabelledAnswer(
            request_id=row[0],
            started_at=float(row[1]),
            category=row[2] or UNCATEGORIZED,
            answer=row[3] or "",
            label=row[4],
            completed=bool(row[5]),
            sticky_key=row[6],
        )
    return sorted(latest.values(), key=lambda a: (a.started_at, a.request_id))


def category_counts(connection: Connection, slot: str | None, since: float, until: float) -> dict[str, int]:
    """Requests per category one slot (None: every slot) got in [since, until)."""
    query = (
        select(requests.c.category, func.count().label("n"))
        .where(*_window(slot, None, since, until))
        .group_by(requests.c.category)
    )
    out: dict[str, int] = {}
    for row in connection.execute(query):
        name = row.category or UNCATEGORIZED
        out[name] = out.get(name, 0) + int(row.n)
    return out


def latest_ids(connection: Connection, slot: str, since: float, until: float, limit: int) -> list[str]:
    """The ids of the latest `limit` requests one slot got in [since, until)."""
    query = (
        select(requests.c.request_id)
        .where(*_window(slot, None, since, until))
        .order_by(requests.c.started_at.desc())
        .limit(limit)
    )
    return [row.request_id for row in connection.execute(query)]
