"""Opening, migrating, reopening and failing: the store as an operator meets it."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text
from tests.integration.store.builders import T0, blue_green, change, deployment, record

from slipway.core.errors import StoreError
from slipway.core.records import Feedback
from slipway.store import Store, default_store_url, open_store
from slipway.store.migrate import head_revision
from slipway.store.schema import metadata


def _schema_differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


async def test_a_fresh_database_is_migrated_to_exactly_the_declared_schema(
    store: Store, store_url: str
) -> None:
    assert head_revision() == "0008"
    assert await store.schema_revision() == head_revision()
    assert _schema_differences(store_url) == []


async def test_reopening_a_migrated_database_changes_nothing(store_url: str) -> None:
    for _ in range(3):
        store = await open_store(store_url)
        await store.close()

    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [head_revision()]


async def test_state_survives_close_and_reopen(store_url: str) -> None:
    store = await open_store(store_url)
    table = await store.commit_routes(blue_green(), expected_version=0, change=change())
    await store.write_records([record(i) for i in range(10)])
    await store.add_feedback(Feedback(request_id=record(3).request_id, at=T0, satisfied=True))
    await store.save_deployment(deployment())
    await store.set_meta("k", "v")
    await store.close()

    reopened = await open_store(store_url)
    try:
        assert await reopened.load_routes() == table
        assert [c.version for c in await reopened.route_history()] == [1]
        assert await reopened.get_request(record(9).request_id) == record(9)
        assert await reopened.latest_feedback(record(3).request_id) is not None
        assert await reopened.list_deployments() == [deployment()]
        assert await reopened.get_meta("k") == "v"
    finally:
        await reopened.close()


async def test_a_closed_store_says_so_and_closing_twice_is_fine(store_url: str) -> None:
    store = await open_store(store_url)
    await store.close()
    await store.close()

    with pytest.raises(StoreError, match="is closed"):
        await store.load_routes()


async def test_a_database_from_a_newer_slipway_is_refused(store_url: str) -> None:
    store = await open_store(store_url)
    await store.close()
    engine = create_engine(store_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    finally:
        engine.dispose()

    with pytest.raises(StoreError, match="schema is not one this slipway knows") as caught:
        await open_store(store_url)
    assert "upgrade slipway" in str(caught.value)


def test_the_default_store_lives_in_dot_slipway(tmp_path: Path) -> None:
    assert default_store_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/.slipway/slipway.db"


async def test_the_sqlite_store_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    url = default_store_url(tmp_path / "deep" / "er")
    store = await open_store(url)
    await store.close()

    db = tmp_path / "deep" / "er" / ".slipway" / "slipway.db"
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()


async def test_sqlite_reads_proceed_and_writes_wait_while_another_process_writes(tmp_path: Path) -> None:
    url = default_store_url(tmp_path)
    store = await open_store(url)
    try:
        await store.commit_routes(blue_green(), expected_version=0, change=change())
        intruder = sqlite3.connect(tmp_path / ".slipway" / "slipway.db", isolation_level=None)
        try:
            intruder.execute("BEGIN IMMEDIATE")
            intruder.execute("INSERT INTO meta (key, value) VALUES ('intruder', 'was here')")
            assert (await store.load_routes()) is not None  # WAL: readers never wait for a writer
            write = store.set_meta("k", "v")
            intruder.execute("COMMIT")
            await write  # waited on busy_timeout for the lock, then went through
        finally:
            intruder.close()
        assert await store.get_meta("intruder") == "was here"
        assert await store.get_meta("k") == "v"
    finally:
        await store.close()


async def test_a_path_under_a_file_gives_a_clear_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")

    with pytest.raises(StoreError) as caught:
        await open_store(f"sqlite:///{blocker}/slipway.db")

    message = str(caught.value)
    assert "could not open the store on SQLite database" in message
    assert str(blocker) in message
    assert "writable" in message


async def test_a_database_path_that_is_a_directory_gives_a_clear_store_error(tmp_path: Path) -> None:
    (tmp_path / "slipway.db").mkdir()

    with pytest.raises(StoreError, match="unable to open database file") as caught:
        await open_store(f"sqlite:///{tmp_path}/slipway.db")
    assert "writable" in str(caught.value)


async def test_an_unreachable_postgresql_gives_a_clear_store_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused

        with pytest.raises(StoreError) as caught:
            await open_store(f"postgresql+psycopg://slipway:s3cret@127.0.0.1:{port}/slipway")

    message = str(caught.value)
    assert f"PostgreSQL database postgresql+psycopg://slipway:***@127.0.0.1:{port}/slipway" in message
    assert "s3cret" not in message
    assert "PostgreSQL server is running" in message


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "is not a database URL"),
        ("mysql://u@h/db", "only in SQLite or PostgreSQL"),
        ("sqlite://", "in-memory SQLite"),
        ("sqlite:///:memory:", "in-memory SQLite"),
    ],
)
async def test_unsupported_urls_are_refused_before_connecting(url: str, expected: str) -> None:
    with pytest.raises(StoreError, match=expected):
        await open_store(url)
