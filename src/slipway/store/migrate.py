"""Bring a database to the current schema when a store is opened.

Users never run Alembic themselves: the configuration is built in code and
points at the migrations shipped inside the package, and the upgrade runs in
one transaction on the writer connection. PostgreSQL has transactional DDL and
an advisory lock is held for that transaction, so several replicas starting
at once migrate exactly once; on SQLite `BEGIN IMMEDIATE` does the same job.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: pg_advisory_xact_lock key serialising migrations across replicas ("slipmigr").
_PG_MIGRATION_LOCK = 0x736C69706D696772


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser interpolates '%': escape it in case the install path has one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        if current_revision(connection) == head_revision():
            return
        command.upgrade(alembic_config(connection), "head")
