"""The store's plumbing: one writer thread, a few readers, and every call translated to store errors.

Each read or write is a plain function of a SQLAlchemy connection (the
repositories), run on a thread so the event loop never waits on a driver.
A leader's write carries its epoch and is refused, with nothing of it
applied, once another replica took office.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection

from slipway.core.errors import StoreUnavailable
from slipway.core.fencing import leader_epoch
from slipway.store.errors import translate_errors
from slipway.store.repositories import leadership as leader_rows
from slipway.store.sql_engines import SqlEngines

P = ParamSpec("P")
T = TypeVar("T")


class StoreAccess:
    def __init__(
        self, engines: SqlEngines, *, writer: ThreadPoolExecutor, reader: ThreadPoolExecutor
    ) -> None:
        self._engines = engines
        self._writer = writer
        self._reader = reader
        self._closed = False
        self._ping: asyncio.Future[None] | None = None

    @property
    def where(self) -> str:
        """Which database this is, fit for logs and error messages (no password)."""
        return self._engines.where

    async def _write(
        self, action: str, job: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        epoch = leader_epoch.get()

        def run() -> T:
            with self._engines.writer.begin() as connection:
                if epoch is not None:
                    # A leader's write: refused, with nothing of it applied, once another took office.
                    leader_rows.check_epoch(connection, epoch)
                return job(connection, *args, **kwargs)

        return await self._submit(self._writer, action, run)

    async def _read(
        self, action: str, job: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        def run() -> T:
            with self._engines.reader.connect() as connection:
                return job(connection, *args, **kwargs)

        return await self._submit(self._reader, action, run)

    async def _submit(self, executor: ThreadPoolExecutor, action: str, run: Callable[[], T]) -> T:
        if self._closed:
            raise StoreUnavailable(
                f"could not {action}: the store on {self.where} is closed",
                hint="This is a shutdown-ordering bug: stop the component before closing the store.",
            )
        with translate_errors(action, self.where):
            return await asyncio.get_running_loop().run_in_executor(executor, run)
