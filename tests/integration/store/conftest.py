"""Every store test runs twice: on a SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.pg import fresh_schema

from slipway.store import Store, default_store_url, open_store

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database that nobody else uses."""
    if request.param == "sqlite":
        yield default_store_url(tmp_path)
        return
    server_url = request.getfixturevalue("postgres_url")
    with fresh_schema(server_url) as url:
        yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    opened = await open_store(store_url)
    try:
        yield opened
    finally:
        await opened.close()
