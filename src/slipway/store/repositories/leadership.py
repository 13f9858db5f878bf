"""The leadership row: which replica leads, and the epoch that fences former leaders out.

`take_office` runs when a replica wins the election (it holds the leader lock,
see store/leadership.py); `check_epoch` runs first in every write transaction
that carries a leader's transition. The check reads the row with a lock (`FOR
UPDATE` on PostgreSQL; SQLite's writer takes the whole file up front), so a
new leader's `take_office` waits for a transition already under way and every
transition that starts after it sees the new epoch and is refused.
"""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from slipway.core.errors import NotLeaderError
from slipway.core.replicas import Leadership
from slipway.store.schema import LEADERSHIP_ROW_ID, leadership

_ROW = leadership.c.id == LEADERSHIP_ROW_ID


def take_office(connection: Connection, holder: str, now: float) -> int:
    """Make `holder` the leader from `now` in the caller's transaction; returns the new epoch."""
    changed = connection.execute(
        update(leadership).where(_ROW).values(epoch=leadership.c.epoch + 1, holder=holder, since=now)
    )
    if changed.rowcount == 0:  # the migration creates the row; only a hand-edited database lacks it
        connection.execute(insert(leadership).values(id=LEADERSHIP_ROW_ID, epoch=1, holder=holder, since=now))
        return 1
    epoch: int = connection.execute(select(leadership.c.epoch).where(_ROW)).scalar_one()
    return epoch


def check_epoch(connection: Connection, epoch: int) -> None:
    """Raise NotLeaderError unless `epoch` is still the current one; locks the row until commit."""
    current = connection.execute(
        select(leadership.c.epoch).where(_ROW).with_for_update()
    ).scalar_one_or_none()
    if current != epoch:
        raise NotLeaderError(epoch, current or 0)


def get(connection: Connection) -> Leadership:
    row = connection.execute(
        select(leadership.c.epoch, leadership.c.holder, leadership.c.since).where(_ROW)
    ).first()
    if row is None:
        return Leadership(epoch=0, holder=None, since=None)
    return Leadership(epoch=row.epoch, holder=row.holder, since=row.since)
