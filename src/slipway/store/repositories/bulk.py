"""The hottest writes: many rows in one `executemany` on the driver's own cursor, known ids skipped.

SQLAlchemy's per-row parameter processing would double the CPU time of a
batch, and these writes (request records and their inputs) run for every
request the gateway answers, in a thread that shares the GIL with its event
loop. `ON CONFLICT DO NOTHING` skips a row whose id is already stored (or
earlier in the batch), which keeps a batch retried after an uncertain commit
from failing forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError


def insert_skipping_known(
    connection: Connection, table: str, columns: Sequence[str], key: str, rows: Sequence[Sequence[Any]]
) -> int:
    """Insert `rows` (values in `columns` order) into `table`; returns how many were new."""
    if not rows:
        return 0
    placeholder = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(placeholder for _ in columns)}) "
        f"ON CONFLICT ({key}) DO NOTHING"
    )
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
        return max(int(cursor.rowcount), 0)
    except dbapi.Error as exc:
        # SQLAlchemy only wraps what goes through its own execute; the store's error
        # translation (and a writer's choice between retrying and isolating a bad row)
        # needs the same classes from this path.
        raise DBAPIError.instance(sql, None, exc, dbapi.Error, dialect=connection.dialect) from exc
    except (OverflowError, ValueError, TypeError, UnicodeError) as exc:
        # The driver could not even bind a value (sqlite3: an int beyond 64 bits).
        raise DataError(sql, None, exc) from exc
    finally:
        cursor.close()
