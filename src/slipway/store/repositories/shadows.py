"""Shadow runs (one JSON row each) and the pairs they collect, with feedback labels joined on read.

A pair's id is its production request's id, so ground truth posted later as
feedback for that request is the pair's label: it is looked up when pairs are
read (latest label wins, as everywhere), never copied into the pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from slipway.core.shadow import ShadowAnswer, ShadowPair, ShadowRun
from slipway.store.repositories import rollout_marks
from slipway.store.schema import feedback, shadow_pairs, shadows


def save(connection: Connection, run: ShadowRun, now: float) -> None:
    values = {"status": run.status.value, "updated_at": now, "state": run.to_dict()}
    changed = connection.execute(
        update(shadows).where(shadows.c.deployment_id == run.deployment_id).values(**values)
    )
    if changed.rowcount == 0:
        connection.execute(
            insert(shadows).values(deployment_id=run.deployment_id, created_at=run.started_at, **values)
        )
    rollout_marks.bump(connection)


def latest(connection: Connection) -> ShadowRun | None:
    query = select(shadows.c.state).order_by(shadows.c.created_at.desc(), shadows.c.deployment_id.desc())
    state = connection.execute(query.limit(1)).scalar_one_or_none()
    return None if state is None else ShadowRun.from_dict(state)


def get(connection: Connection, deployment_id: str) -> ShadowRun | None:
    query = select(shadows.c.state).where(shadows.c.deployment_id == deployment_id)
    state = connection.execute(query).scalar_one_or_none()
    return None if state is None else ShadowRun.from_dict(state)


def write_pairs(connection: Connection, pairs: Sequence[ShadowPair]) -> None:
    rows = [
        {
            "pair_id": p.pair_id,
            "deployment_id": p.deployment_id,
            "at": p.at,
            "api": p.api,
            "category": p.category,
            "stream": p.stream,
            "turns": p.turns,
            "input_text": p.input_text,
            "request": p.request,
            "production": p.production.to_dict(),
            "candidate": p.candidate.to_dict(),
        }
        for p in pairs
    ]
    if rows:
        connection.execute(insert(shadow_pairs), rows)


def read_pairs(connection: Connection, deployment_id: str, limit: int | None = None) -> list[ShadowPair]:
    """The run's pairs, oldest first (the newest `limit` when given), each with its latest label."""
    query = select(shadow_pairs).where(shadow_pairs.c.deployment_id == deployment_id)
    if limit is not None:
        query = query.order_by(shadow_pairs.c.at.desc()).limit(limit)
    rows = sorted(connection.execute(query), key=lambda r: (r.at, r.pair_id))
    labels = _labels(connection, deployment_id)
    return [_pair(row, labels.get(row.pair_id)) for row in rows]


def counts(connection: Connection, deployment_id: str) -> dict[str | None, int]:
    """Pairs per category (None: uncategorized)."""
    query = (
        select(shadow_pairs.c.category, func.count())
        .where(shadow_pairs.c.deployment_id == deployment_id)
        .group_by(shadow_pairs.c.category)
    )
    return {category: int(n) for category, n in connection.execute(query)}


def _labels(connection: Connection, deployment_id: str) -> dict[str, str]:
    query = (
        select(feedback.c.request_id, feedback.c.label)
        .join(shadow_pairs, shadow_pairs.c.pair_id == feedback.c.request_id)
        .where(shadow_pairs.c.deployment_id == deployment_id, feedback.c.label.is_not(None))
        .order_by(feedback.c.at, feedback.c.id)
    )
    return {request_id: label for request_id, label in connection.execute(query)}


def _pair(row: Row[Any], label: str | None) -> ShadowPair:
    return ShadowPair(
        pair_id=row.pair_id,
        deployment_id=row.deployment_id,
        at=row.at,
        api=row.api,
        category=row.category,
        input_text=row.input_text,
        turns=row.turns,
        production=ShadowAnswer.from_dict(row.production),
        candidate=ShadowAnswer.from_dict(row.candidate),
        stream=bool(row.stream),
        request=dict(row.request),
        label=label,
    )
