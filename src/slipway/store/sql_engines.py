"""Engines for the store: one writer, a few readers, tuned per backend.

SQLite allows one writer at a time per file. Rather than let threads race for
the lock and retry on "database is locked", every write goes through one
connection on one thread (datasette's design) and opens its transaction with
`BEGIN IMMEDIATE`, so the write lock is taken up front and a second process
sharing the file waits `busy_timeout` instead of failing half-way through a
transaction. Readers get their own connections and, thanks to WAL, never wait
for the writer. They are also `query_only`, so a read path cannot write by
mistake.

PostgreSQL needs none of this, but uses the same two engines so that the code
above is identical on both backends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError

from slipway.core.errors import StoreError
from slipway.store.errors import NotJSONError

#: How long a SQLite connection waits for another process's write lock, in ms.
SQLITE_BUSY_TIMEOUT_MS = 5_000


@dataclass(frozen=True, slots=True)
class SqlEngines:
    writer: Engine
    reader: Engine
    #: Human-readable name of the database for error messages (no password).
    where: str
    #: Where it is: a dedicated connection (a notification listener, a leader lock) opens it too.
    url: URL


def parse_url(url: str) -> URL:
    """Parse and normalise a store URL; `postgres://` and `postgresql://` mean psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"store URL {url!r} is not a database URL",
            hint="Use sqlite:///path/to/slipway.db or postgresql+psycopg://user:pass@host/db.",
        ) from exc
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise StoreError(
            f"store URL {parsed.render_as_string(hide_password=True)!r} uses {backend!r}; "
            "slipway stores state only in SQLite or PostgreSQL",
            hint="Use sqlite:///path/to/slipway.db or postgresql+psycopg://user:pass@host/db.",
        )
    if backend == "sqlite" and (not parsed.database or parsed.database == ":memory:"):
        raise StoreError(
            "an in-memory SQLite store cannot be shared between the writer and reader threads",
            hint="Give a file path, e.g. sqlite:///.slipway/slipway.db (tests: a tmp_path file).",
        )
    return parsed


def describe(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return f"SQLite database {url.database}"
    return f"PostgreSQL database {url.render_as_string(hide_password=True)}"


def create_sql_engines(url: URL, *, readers: int) -> SqlEngines:
    """Build the writer and reader engines; connects lazily, so this does no I/O but mkdir."""
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        writer = create_engine(url, pool_size=1, max_overflow=0, json_serializer=_json_dumps)
        reader = create_engine(url, pool_size=readers, max_overflow=0, json_serializer=_json_dumps)
        _configure_sqlite(writer, begin="BEGIN IMMEDIATE", query_only=False)
        _configure_sqlite(reader, begin="BEGIN", query_only=True)
    else:
        try:
            import psycopg  # noqa: F401  (imported by SQLAlchemy; checked here for a better message)
        except ImportError as exc:
            raise StoreError(
                "a PostgreSQL store needs the psycopg driver, which is not installed",
                hint="Install slipway with the postgres extra: pip install 'slipway[postgres]'.",
            ) from exc
        options = {"pool_pre_ping": True, "json_serializer": _json_dumps}
        writer = create_engine(url, pool_size=1, max_overflow=0, **options)
        reader = create_engine(url, pool_size=readers, max_overflow=0, **options)
    return SqlEngines(writer=writer, reader=reader, where=describe(url), url=url)


def _configure_sqlite(engine: Engine, *, begin: str, query_only: bool) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (which would
        # emit a plain deferred BEGIN, and only before DML) so `on_begin` decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not query_only:
                # Persistent in the file; set by the writer only, which connects first.
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            if query_only:
                cursor.execute("PRAGMA query_only=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)


def _json_dumps(value: object) -> str:
    """Like json.dumps, but NaN and infinity are refused on every backend.

    PostgreSQL rejects them and SQLite would store them, which would make the
    same deployment saveable on one backend and not the other.
    """
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NotJSONError(f"a JSON field holds a value JSON cannot represent ({exc})") from exc


def libpq_url(url: URL) -> str:
    """The store's PostgreSQL URL as libpq (psycopg's own connect) reads it, password included."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)
