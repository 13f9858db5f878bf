"""A counter every canary or shadow save moves, so the leader hears of an action taken elsewhere.

An operator's pause, resume or stop may reach a replica that does not lead;
it saves the new state itself, but the leader's control loop would only see
it at its next scheduled wake. The save moves this counter in the same
transaction and, on PostgreSQL, notifies `ROLLOUTS_CHANNEL`; replicas poll
the counter beside the route version, so the leader wakes at once (or
within a poll, without notifications) and acts on the new state.
"""

from __future__ import annotations

from sqlalchemy import Connection, Integer, Text, cast, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from slipway.store.schema import meta

#: The PostgreSQL notification channel a canary or shadow save announces itself on.
ROLLOUTS_CHANNEL = "slipway_rollouts"
KEY = "rollouts.changes"


def bump(connection: Connection) -> int:
    """Count one more rollout change in the caller's transaction; the new count.

    An atomic increment, so two replicas saving at once count two.
    """
    moved = (
        update(meta)
        .where(meta.c.key == KEY)
        .values(value=cast(cast(meta.c.value, Integer) + 1, Text))
        .returning(meta.c.value)
    )
    count = connection.execute(moved).scalar_one_or_none()
    if count is None:
        try:
            with connection.begin_nested():
                connection.execute(insert(meta).values(key=KEY, value="1"))
            count = "1"
        except IntegrityError:
            count = connection.execute(moved).scalar_one()  # another transaction inserted it first
    if connection.dialect.name == "postgresql":
        # Sent when (and only if) the transaction commits; the schema keeps installations apart.
        connection.execute(
            text("SELECT pg_notify(:channel, current_schema() || ':' || :count)"),
            {"channel": ROLLOUTS_CHANNEL, "count": str(count)},
        )
    return int(count)


def read(connection: Connection) -> int:
    value = connection.execute(select(meta.c.value).where(meta.c.key == KEY)).scalar_one_or_none()
    return int(value) if value is not None else 0
