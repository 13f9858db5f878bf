"""Helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Column, Connection, Table, insert, update
from sqlalchemy.exc import IntegrityError


def upsert(connection: Connection, table: Table, key: Column[Any], values: Mapping[str, Any]) -> None:
    """Insert or update the row whose `key` equals `values[key.name]`.

    Portable on purpose (no ON CONFLICT / INSERT OR REPLACE dialects): update
    first, insert when nothing matched. Two PostgreSQL replicas can both find
    nothing and both insert; the loser's insert fails inside a savepoint and it
    updates instead, so the last writer wins as it would have anyway.
    """
    changed = connection.execute(update(table).where(key == values[key.name]).values(**values))
    if changed.rowcount:
        return
    try:
        with connection.begin_nested():
            connection.execute(insert(table).values(**values))
    except IntegrityError:
        connection.execute(update(table).where(key == values[key.name]).values(**values))
