"""Request records inserted by a child process, so the gateway's event loop never waits for them.

In the gateway's own process, even on the store's writer thread, inserting
a batch of 1,000 records holds the GIL for most of 10 ms of SQLAlchemy and
sqlite3 work, and every request that arrives meanwhile waits: the whole tail
of the gateway's added latency (docs/benchmarks.md). Here the gateway only
serialises each batch (orjson, about a microsecond a record) and writes it
to a pipe; `record_writer_child` does the inserts with its own interpreter.

A child that dies is started again and the batch in hand is sent once more
(writes skip ids already stored, so nothing is written twice); a child that
cannot start is a `StoreError` for that batch, counted as lost by the
recorder like any failed write.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import sys
from collections.abc import Sequence
from dataclasses import fields

import orjson

from slipway.core.errors import StoreError
from slipway.core.records import RequestRecord
from slipway.store.record_writer_child import FRAME_HEADER

log = logging.getLogger("slipway.store")

_ROW = operator.attrgetter(*(f.name for f in fields(RequestRecord)))
#: How long the child may take to connect, and to write one batch.
START_TIMEOUT_S = 30.0
WRITE_TIMEOUT_S = 60.0
#: How long `close` waits for the child to finish its last batch and exit.
CLOSE_TIMEOUT_S = 10.0


class RecordWriterProcess:
    """Implements `RecordSink` over a child process; see `start`."""

    def __init__(self, url: str, where: str) -> None:
        self._url = url
        self._where = where
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def start(cls, url: str, where: str) -> RecordWriterProcess:
        """Start the child and wait until it has reached the database. Raises StoreError."""
        writer = cls(url, where)
        await writer._spawn()
        return writer

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def _spawn(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "slipway.store.record_writer_child",
            self._url,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # Its own session: a Ctrl-C in the terminal reaches the gateway only,
            # which hands over its last records before it closes the pipe.
            start_new_session=True,
        )
        try:
            reply = await self._reply(proc, START_TIMEOUT_S, "start")
        except BaseException:
            await _kill(proc)
            raise
        if not reply.get("ready"):
            await _kill(proc)
            raise _error(reply, f"could not start the record writer for {self._where}")
        self._proc = proc
        log.info("record writer process %d writes request records to %s", proc.pid, self._where)

    async def _reply(self, proc: asyncio.subprocess.Process, timeout: float, doing: str) -> dict[str, object]:
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        except TimeoutError:
            raise StoreError(
                f"the record writer for {self._where} did not {doing} within {timeout:g} s",
                hint="Check that the database is reachable and not locked by another program.",
            ) from None
        if not line:
            code = await proc.wait()
            raise _ChildGone(f"the record writer for {self._where} exited (code {code}) during {doing}")
        try:
            reply = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise StoreError(
                f"the record writer for {self._where} answered {line[:200]!r}, not its protocol",
                hint="Something in the child process writes to stdout; report this as a bug.",
            ) from exc
        if not isinstance(reply, dict):
            raise StoreError(f"the record writer for {self._where} answered {reply!r}, not an object")
        return reply

    async def write_records(self, records: Sequence[RequestRecord]) -> None:
        if not records:
            return
        body = orjson.dumps([_ROW(record) for record in records])
        frame = FRAME_HEADER.pack(len(body)) + body
        async with self._lock:
            if self._closed:
                raise StoreError(f"the record writer for {self._where} is closed")
            try:
                reply = await self._send(frame)
            except _ChildGone as exc:
                log.warning("%s; starting it again and resending the batch", exc)
                self._proc = None
                await self._spawn()
                reply = await self._send(frame)
        if "written" not in reply:
            raise _error(reply, f"could not write {len(records)} request records on {self._where}")

    async def _send(self, frame: bytes) -> dict[str, object]:
        if self._proc is None or self._proc.returncode is not None:
            raise _ChildGone(f"the record writer for {self._where} is not running")
        proc = self._proc
        assert proc.stdin is not None
        try:
            proc.stdin.write(frame)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _ChildGone(f"the record writer for {self._where} is gone ({exc})") from exc
        return await self._reply(proc, WRITE_TIMEOUT_S, "write a batch")

    async def close(self) -> None:
        """Let the child finish what it was given, then wait for it to exit. Idempotent."""
        async with self._lock:
            self._closed = True
            proc, self._proc = self._proc, None
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            log.error("the record writer process %d did not exit; killing it", proc.pid)
            await _kill(proc)


class _ChildGone(StoreError):
    """The child exited or closed its pipe: start another and resend."""


def _error(reply: dict[str, object], fallback: str) -> StoreError:
    message = reply.get("error")
    hint = reply.get("hint")
    return StoreError(
        message if isinstance(message, str) else fallback, hint=hint if isinstance(hint, str) else None
    )


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
