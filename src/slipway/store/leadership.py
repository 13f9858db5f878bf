"""One replica's claim on leadership: campaign, hold, notice the loss, campaign again.

Several `slipway serve` replicas share one store, and exactly one of them (the
leader) may run the control loops. Leadership is a lock the operating system
or the database server frees by itself when its holder dies, so a crashed
leader never needs cleaning up after:

- PostgreSQL: a session advisory lock, taken on a connection of the lease's
  own (autocommit, never shared with the store's pools). The server frees it
  when that session ends: the process died, its connection was cut, or an
  administrator terminated it. Short server-side TCP keepalives make the
  server notice a peer that vanished without closing its socket, and once
  elected the session has an idle timeout (`hold_timeout_s`, PostgreSQL 14
  and later): a leader that stops checking its hold (paused, frozen) loses
  its session, and so the lock, that long after its last check.
- SQLite: an exclusive `flock` on `<database>.leader`, next to the database
  file; the kernel frees it when the process dies. This serves the processes
  of one host (all that can share a SQLite file anyway).

Whoever takes the lock bumps the store's leadership epoch (see
repositories/leadership.py) and leads under the new epoch; it must pass that
epoch to every transition it writes, whose transaction checks it first. So a
former leader that was paused, or cut off from the lock but not from the
store, cannot commit anything once a successor took office: the lock decides
who should act, the epoch refuses whoever acts late.

While it leads, the lease checks every `check_interval_s` that its hold is
intact (the connection answers within `check_timeout_s` and the epoch is
still its own; for SQLite, that the lock file is still the one it locked) and
calls `on_deposed` the moment it is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import logging
import math
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from sqlalchemy import URL

from slipway.core.errors import StoreError
from slipway.store.schema import LEADERSHIP_ROW_ID, leadership
from slipway.store.sql_engines import SQLITE_BUSY_TIMEOUT_MS, describe, parse_url

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger("slipway.leader")

#: The longest pause between two campaigns after failures in a row (connection refused, …).
MAX_BACKOFF_S = 5.0
#: What PostgreSQL's application_name holds (NAMEDATALEN - 1 bytes); longer names are cut.
_PG_NAME_MAX_BYTES = 63
#: Server-side TCP keepalives of the lease's session, in seconds: a leader whose host vanished
#: without closing its socket loses its lock about idle + interval x count seconds later.
_PG_KEEPALIVE_IDLE_S = 2
_PG_KEEPALIVE_INTERVAL_S = 1
_PG_KEEPALIVE_COUNT = 3

_SQL_CHECK = f"SELECT epoch FROM {leadership.name} WHERE id = {LEADERSHIP_ROW_ID}"
_SQL_BUMP = (
    f"UPDATE {leadership.name} SET epoch = epoch + 1, holder = %s, since = %s WHERE id = {LEADERSHIP_ROW_ID}"
)
_SQL_TAKE_OFFICE = f"{_SQL_BUMP} RETURNING epoch"

OnElected = Callable[[int], Awaitable[None]]
OnDeposed = Callable[[], Awaitable[None]]


def advisory_key(schema: str) -> int:
    """The PostgreSQL advisory lock key of leadership over the slipway tables in `schema`.

    A fixed 64-bit number derived from "slipway-leader" and the schema: advisory
    locks are per database, and two slipway installations in two schemas of one
    database must not contend for one leader.
    """
    digest = hashlib.sha256(f"slipway-leader:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def pg_conninfo(url: URL, *, application_name: str, statement_timeout_s: float) -> str:
    """A libpq connection string for the lease's own session to the store at `url`.

    Keeps every parameter the URL carries (sslmode, options such as search_path, …)
    and adds the session settings the lease relies on.
    """
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = {
        k: v for k, v in url.translate_connect_args(username="user", database="dbname").items() if v
    }
    for key, value in url.query.items():
        params[key] = " ".join(value) if isinstance(value, tuple) else value
    server_options = (
        f"-c statement_timeout={max(1, round(statement_timeout_s * 1000))} "
        f"-c tcp_keepalives_idle={_PG_KEEPALIVE_IDLE_S} "
        f"-c tcp_keepalives_interval={_PG_KEEPALIVE_INTERVAL_S} "
        f"-c tcp_keepalives_count={_PG_KEEPALIVE_COUNT}"
    )
    params["options"] = f"{params['options']} {server_options}" if params.get("options") else server_options
    params["application_name"] = _cut_utf8(application_name, _PG_NAME_MAX_BYTES)
    params.setdefault("connect_timeout", max(2, math.ceil(statement_timeout_s)))
    conninfo: str = make_conninfo(**params)
    return conninfo


class LeaderLease:
    """One replica's claim on leading the replicas that share the store at `url`.

    `holder` names this replica (its replica id) in the store's leadership row.
    `run` campaigns until cancelled or `close`d; only one lease per store holds
    office at a time, and each new term has a higher epoch than every earlier one.
    """

    def __init__(
        self,
        url: str,
        holder: str,
        *,
        retry_s: float = 2.0,
        check_interval_s: float = 1.0,
        check_timeout_s: float = 2.0,
        hold_timeout_s: float | None = None,
        max_backoff_s: float = MAX_BACKOFF_S,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not holder:
            raise ValueError("a leader lease needs a holder name")
        if min(retry_s, check_interval_s, check_timeout_s) <= 0:
            raise ValueError("a leader lease's retry, check interval and check timeout must be positive")
        hold_timeout_s = hold_timeout_s or max(5.0, 3 * check_interval_s + check_timeout_s)
        if hold_timeout_s <= check_interval_s + check_timeout_s:
            raise ValueError("a leader lease's hold timeout must be longer than a check interval and timeout")
        parsed = parse_url(url)
        self.holder = holder
        self.where = describe(parsed)
        self._retry_s = retry_s
        self._check_interval_s = check_interval_s
        self._check_timeout_s = check_timeout_s
        self._max_backoff_s = max(max_backoff_s, retry_s)
        self._now = now
        self._seat: _Seat
        if parsed.get_backend_name() == "postgresql":
            self._seat = _AdvisoryLockSeat(
                parsed, holder, timeout_s=check_timeout_s, hold_timeout_s=hold_timeout_s
            )
        else:
            assert parsed.database is not None  # parse_url refuses a SQLite URL without a file
            self._seat = _LockFileSeat(Path(parsed.database), holder, timeout_s=check_timeout_s)
        self._epoch: int | None = None
        self._closed = False
        self._task: asyncio.Task[Any] | None = None

    @property
    def epoch(self) -> int | None:
        """The epoch this replica leads under, or None while it is not the leader."""
        return self._epoch

    async def run(self, on_elected: OnElected, on_deposed: OnDeposed) -> None:
        """Campaign, lead, and campaign again after losing office, until cancelled or closed.

        `on_elected(epoch)` is awaited when this replica takes office and should
        start the leader's work and return (the hold is checked meanwhile, and
        if it is lost first `on_elected` is cancelled); `on_deposed()` when it leaves office
        for any reason (the hold was lost, `on_elected` failed, cancelled,
        closed), and should stop that work. Errors are logged and retried with
        a bounded backoff; nothing but cancellation ends the loop.
        """
        if self._closed:
            return
        if self._task is not None:
            raise RuntimeError(f"leader lease {self.holder!r} is already running")
        self._task = asyncio.current_task()
        failures = 0
        try:
            while not self._closed:
                try:
                    epoch = await self._seat.try_take(self._now())
                except Exception as exc:
                    failures += 1
                    delay = min(self._retry_s * 2 ** min(failures - 1, 16), self._max_backoff_s)
                    self._log_failure(exc, f"could not campaign for leadership (retrying in {delay:g} s)")
                    await self._seat.release()
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                if epoch is None:
                    await asyncio.sleep(self._retry_s)
                    continue
                await self._lead(epoch, on_elected, on_deposed)
                await self._seat.release()
                if not self._closed:
                    # Give the others a turn: whatever cost this replica its hold may not be over.
                    await asyncio.sleep(self._retry_s)
        finally:
            self._task = None
            await self._seat.release()

    async def close(self) -> None:
        """Stop `run` (which calls `on_deposed` if leading), release the lock and its connection."""
        self._closed = True
        task = self._task
        if task is not None and task is not asyncio.current_task():
            # Cancel until it ends: `run` must not outlive `close`, even if some await inside
            # it absorbed one cancellation (Python 3.11's wait_for can).
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=1.0)
        await self._seat.release()
        await self._seat.wait_closed()

    async def _lead(self, epoch: int, on_elected: OnElected, on_deposed: OnDeposed) -> None:
        """Hold office under `epoch` until the hold is lost; always ends with `on_deposed`."""
        self._epoch = epoch
        log.info("%s leads under epoch %d (%s)", self.holder, epoch, self.where)
        # The hold is checked while `on_elected` runs too: a slow start must neither hide a lost
        # hold nor leave the PostgreSQL session silent long enough for the server to end it.
        starting = asyncio.ensure_future(on_elected(epoch))
        try:
            while not self._closed:
                if starting.done():
                    starting.result()
                    await asyncio.sleep(self._check_interval_s)
                else:
                    await asyncio.wait([starting], timeout=self._check_interval_s)
                    if starting.done():
                        starting.result()
                lost = await self._check(epoch)
                if lost is not None:
                    log.warning("%s is no longer the leader (epoch %d): %s", self.holder, epoch, lost)
                    return
        except Exception:
            log.exception("%s gives up leadership (epoch %d) after an unexpected error", self.holder, epoch)
        finally:
            if not starting.done():
                starting.cancel()
                await asyncio.wait([starting])
            elif not starting.cancelled():
                starting.exception()  # seen (and logged above, if it failed)
            self._epoch = None
            try:
                await on_deposed()
            except Exception:
                log.exception("%s: stopping the leader's work failed (epoch %d)", self.holder, epoch)

    async def _check(self, epoch: int) -> str | None:
        """None while the hold is intact, else why it is not."""
        try:
            return await self._seat.check(epoch)
        except Exception as exc:
            if isinstance(exc, self._seat.expected_errors):
                return f"{_describe(exc)}"
            log.exception("%s: checking the leader's hold failed", self.holder)
            return f"checking the hold failed ({_describe(exc)})"

    def _log_failure(self, exc: Exception, what: str) -> None:
        if isinstance(exc, self._seat.expected_errors):
            log.warning("%s %s on %s: %s", self.holder, what, self.where, _describe(exc))
        else:
            log.error("%s %s on %s", self.holder, what, self.where, exc_info=exc)


class _Seat(Protocol):
    """The lock behind a lease, on one backend. Only the event loop's thread changes its state."""

    #: Failures that are the database or the file system being unavailable, not a bug.
    @property
    def expected_errors(self) -> tuple[type[Exception], ...]: ...

    async def try_take(self, now: float) -> int | None:
        """Take the lock and office (the new epoch), or None while someone else holds it."""
        ...

    async def check(self, epoch: int) -> str | None:
        """None while the lock is held and `epoch` current; else why not. Raises if unanswerable."""
        ...

    async def release(self) -> None:
        """Give the lock back (if held) and drop its connection or file. Never raises."""
        ...

    async def wait_closed(self) -> None:
        """Wait (briefly) for connections abandoned after a timeout to finish closing."""
        ...


class _AdvisoryLockSeat:
    """A PostgreSQL session advisory lock on a dedicated autocommit connection."""

    def __init__(self, url: URL, holder: str, *, timeout_s: float, hold_timeout_s: float) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError(
                "a PostgreSQL store needs the psycopg driver, which is not installed",
                hint="Install slipway with the postgres extra: pip install 'slipway[postgres]'.",
            ) from exc

        self.expected_errors: tuple[type[Exception], ...] = (
            psycopg.OperationalError,
            psycopg.InterfaceError,
            TimeoutError,
            OSError,
        )
        self._conninfo = pg_conninfo(
            url, application_name=f"slipway-leader:{holder}", statement_timeout_s=timeout_s
        )
        self._holder = holder
        self._timeout_s = timeout_s
        self._hold_timeout_ms = str(max(1, round(hold_timeout_s * 1000)))
        self._connection: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self._key: int | None = None
        self._reaping: set[asyncio.Task[None]] = set()

    async def try_take(self, now: float) -> int | None:
        connection, key = await self._connect()
        row = await self._fetch(connection, "SELECT pg_try_advisory_lock(%s)", (key,))
        if not row or not row[0]:
            return None
        # The lock is ours from here: any failure must give it back (release closes the session).
        try:
            row = await self._fetch(connection, _SQL_TAKE_OFFICE, (self._holder, now))
        except BaseException:
            await self.release()
            raise
        if row is None:
            await self.release()
            raise StoreError(
                "the store's leadership row is missing",
                hint="The database was edited by hand: reopen the store with an empty database, "
                "or restore a backup.",
            )
        epoch: int = row[0]
        if connection.info.server_version >= 140000:
            # A leader that falls silent (paused, frozen, its host gone) loses its session and
            # so the lock this long after its last check. PostgreSQL 13 and older lack the
            # setting: there only TCP keepalives end a vanished leader's session.
            try:
                await self._fetch(
                    connection,
                    "SELECT set_config('idle_session_timeout', %s, false)",
                    (self._hold_timeout_ms,),
                )
            except BaseException:
                await self.release()
                raise
        return epoch

    async def check(self, epoch: int) -> str | None:
        if self._connection is None or self._connection.closed:
            return "the lock's connection is closed"
        row = await self._fetch(self._connection, _SQL_CHECK, ())
        current = None if row is None else row[0]
        if current != epoch:
            return f"the store's leadership epoch is {current} now"
        return None

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.closed:
            return
        # Closing the session frees its advisory locks; no need to unlock first (and on a
        # broken connection unlocking could only fail).
        try:
            async with asyncio.timeout(self._timeout_s):
                await connection.close()
        except Exception as exc:
            log.debug("closing the leader lock's connection failed: %s", _describe(exc))

    async def wait_closed(self) -> None:
        if self._reaping:
            await asyncio.wait(self._reaping, timeout=15.0)

    async def _connect(self) -> tuple[psycopg.AsyncConnection[tuple[Any, ...]], int]:
        import psycopg

        if self._connection is not None and not self._connection.closed and self._key is not None:
            return self._connection, self._key
        await self.release()
        connect = psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        async with asyncio.timeout(self._timeout_s + 1.0):
            connection = await connect
        self._connection = connection
        row = await self._fetch(connection, "SELECT current_schema()", ())
        if row is None or row[0] is None:
            await self.release()
            raise StoreError(
                "the store's PostgreSQL connection has no current schema",
                hint="Check the search_path the store URL sets (options=-csearch_path=...).",
            )
        self._key = advisory_key(row[0])
        return connection, self._key

    async def _fetch(
        self, connection: psycopg.AsyncConnection[tuple[Any, ...]], query: Any, params: tuple[Any, ...]
    ) -> tuple[Any, ...] | None:
        """Run one statement and return its first row, giving up after the check timeout.

        The server gives up first (statement_timeout); the client's own deadline is for a
        network that stopped answering. A statement abandoned that way may need seconds to
        be cancelled, so its connection is left to close in the background while the lease
        goes on: it counts as lost at once.
        """

        async def fetch() -> tuple[Any, ...] | None:
            cursor = await connection.execute(query, params)
            return await cursor.fetchone()

        task = asyncio.ensure_future(fetch())
        try:
            done, _ = await asyncio.wait([task], timeout=self._timeout_s + 1.0)
        except asyncio.CancelledError:
            self._abandon(connection, task)
            raise
        if not done:
            self._abandon(connection, task)
            raise TimeoutError(f"PostgreSQL did not answer within {self._timeout_s + 1.0:g} s")
        return task.result()

    def _abandon(self, connection: psycopg.AsyncConnection[Any], task: asyncio.Future[Any]) -> None:
        if self._connection is connection:
            self._connection = None
        task.cancel()

        async def reap() -> None:
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await connection.close()

        reaper = asyncio.ensure_future(reap())
        self._reaping.add(reaper)
        reaper.add_done_callback(self._reaping.discard)


class _LockFileSeat:
    """An exclusive `flock` on `<database>.leader`; the epoch lives in the SQLite database."""

    def __init__(self, database: Path, holder: str, *, timeout_s: float) -> None:
        self.expected_errors: tuple[type[Exception], ...] = (sqlite3.OperationalError, OSError, TimeoutError)
        self._database = database
        self._lock_path = database.with_name(database.name + ".leader")
        self._holder = holder
        self._timeout_s = timeout_s
        self._fd: int | None = None

    async def try_take(self, now: float) -> int | None:
        # Non-blocking open and flock on a local file: quick enough for the event loop's thread,
        # and doing them here means a cancelled campaign can never leave a lock behind.
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            raise
        self._fd = fd
        try:
            return await asyncio.to_thread(_sqlite_take_office, self._database, self._holder, now)
        except BaseException:
            await self.release()
            raise

    async def check(self, epoch: int) -> str | None:
        if self._fd is None:
            return "the lock file is closed"
        held, current = os.fstat(self._fd), os.stat(self._lock_path)
        if (held.st_dev, held.st_ino) != (current.st_dev, current.st_ino):
            return f"{self._lock_path} was replaced: another process may lock the new one"
        async with asyncio.timeout(self._timeout_s + 1.0):
            now_epoch = await asyncio.to_thread(_sqlite_epoch, self._database)
        if now_epoch != epoch:
            return f"the store's leadership epoch is {now_epoch} now"
        return None

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                os.close(fd)  # closing the only descriptor of the open file frees the flock
            except OSError as exc:
                log.debug("closing the leader lock file failed: %s", exc)

    async def wait_closed(self) -> None:
        return None


def _sqlite_connect(database: Path) -> sqlite3.Connection:
    # mode=rw: never create an empty database where the store's file should be.
    uri = f"file:{quote(str(database))}?mode=rw"
    connection = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    return connection


def _sqlite_take_office(database: Path, holder: str, now: float) -> int:
    """Bump the epoch in one short write transaction; runs on a worker thread."""
    connection = _sqlite_connect(database)
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            # UPDATE, then SELECT: SQLite has RETURNING only since 3.35.
            connection.execute(_SQL_BUMP.replace("%s", "?"), (holder, now))
            row = connection.execute(_SQL_CHECK).fetchone()
            if row is None:
                raise StoreError(
                    "the store's leadership row is missing",
                    hint="The database was edited by hand: reopen the store with an empty database, "
                    "or restore a backup.",
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        epoch: int = row[0]
        return epoch
    finally:
        connection.close()


def _sqlite_epoch(database: Path) -> int | None:
    connection = _sqlite_connect(database)
    try:
        row = connection.execute(_SQL_CHECK).fetchone()
        return None if row is None else int(row[0])
    finally:
        connection.close()


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode()[:max_bytes].decode(errors="ignore")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
