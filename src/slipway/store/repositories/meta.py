"""Small key/value facts about the installation (e.g. which routing file was imported)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, select

from slipway.store.repositories.common import upsert
from slipway.store.schema import meta


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
