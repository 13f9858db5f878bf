"""Alembic environment for the slipway store.

slipway runs migrations itself when a store is opened (`slipway.store.migrate`),
handing over a connection already inside a transaction through
`config.attributes["connection"]`. The engine fallback exists only for
maintainers running the `alembic` command by hand with `sqlalchemy.url` set.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from slipway.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or open the store with slipway.store.open_store()")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported for the slipway store")
run_migrations_online()
