"""Small key/value facts about the installation (e.g. which routing file was imported)."""

from __future__ import annotations

from sqlalchemy import Connection, String, delete, literal, select

from slipway.store.repositories.common import upsert
from slipway.store.schema import meta, replicas


def get(connection: Connection, key: str) -> str | None:
    return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_(connection: Connection, key: str, value: str) -> None:
    upsert(connection, meta, meta.c.key, {"key": key, "value": value})


def take(connection: Connection, prefix: str) -> dict[str, str]:
    """Delete and return every key starting with `prefix`: each row goes to one caller only."""
    rows = connection.execute(
        delete(meta).where(meta.c.key.startswith(prefix, autoescape=True)).returning(meta.c.key, meta.c.value)
    )
    return {str(key): str(value) for key, value in rows}


def delete_(connection: Connection, key: str) -> None:
    connection.execute(delete(meta).where(meta.c.key == key))


def take_of_silent(connection: Connection, prefix: str, alive_since: float, mine: str) -> dict[str, str]:
    """Delete and return the `<prefix><replica id>` keys of replicas with no heartbeat after `alive_since`.

    One statement, so one caller gets each row (PostgreSQL's second DELETE
    skips rows the first removed) and a replica that beats is never robbed of
    the set it keeps while it runs. `mine` (the caller's own key) is never taken.
    """
    alive = select(literal(prefix, String) + replicas.c.id).where(replicas.c.heartbeat_at > alive_since)
    rows = connection.execute(
        delete(meta)
        .where(meta.c.key.startswith(prefix, autoescape=True), meta.c.key != mine, meta.c.key.not_in(alive))
        .returning(meta.c.key, meta.c.value)
    )
    return {str(key): str(value) for key, value in rows}
