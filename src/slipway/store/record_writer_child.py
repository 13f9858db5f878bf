"""The record writer's child process: inserts request records it reads from a pipe.

Run by `record_writer.RecordWriterProcess` as `python -m slipway.store.record_writer_child URL`.
It exists so that the inserts' CPU time and, above all, their hold on the GIL
are not the gateway's: in the gateway's process a 1,000-record insert stalls
the event loop for milliseconds, which is the gateway's whole p99 budget.

Protocol (stdin → stdout, one batch at a time):
- in: a frame per batch: 4-byte little-endian length, then an orjson array of
  rows, each row the `RequestRecord` fields in declaration order;
- out: one orjson line per batch: `{"written": n}` (n new rows; duplicates of
  ids already stored are skipped, so a retried batch is harmless) or
  `{"error": message, "hint": hint}`;
- a first line `{"ready": true}` once the database answered, or an error line
  and exit code 1 when it cannot be reached.
End of stdin (the gateway closed it, or died) ends the process after the
batch in hand is written. SIGINT and SIGTERM are ignored: the gateway decides
when its last records have been handed over, then closes the pipe.
"""

from __future__ import annotations

import signal
import struct
import sys
from typing import BinaryIO

import orjson
from sqlalchemy import text

from slipway.core.errors import StoreError
from slipway.core.records import RequestRecord
from slipway.store.engine import create_engines, describe, parse_url
from slipway.store.errors import translate_errors
from slipway.store.repositories import records

FRAME_HEADER = struct.Struct("<I")


def _reply(out: BinaryIO, message: dict[str, object]) -> None:
    out.write(orjson.dumps(message) + b"\n")
    out.flush()


def _read_exactly(source: BinaryIO, n: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < n:
        chunk = source.read(n - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def serve(url: str, source: BinaryIO, out: BinaryIO) -> int:
    try:
        parsed = parse_url(url)
        where = describe(parsed)
        with translate_errors("start the record writer", where):
            engines = create_engines(parsed, readers=1)
            with engines.writer.connect() as conn:
                conn.execute(text("SELECT 1"))
    except StoreError as exc:
        _reply(out, {"error": exc.message, "hint": exc.hint})
        return 1
    _reply(out, {"ready": True})
    try:
        while True:
            header = _read_exactly(source, FRAME_HEADER.size)
            if header is None:
                return 0
            (length,) = FRAME_HEADER.unpack(header)
            body = _read_exactly(source, length)
            if body is None:
                return 0
            try:
                batch = [RequestRecord(*row) for row in orjson.loads(body)]
                with translate_errors(f"write {len(batch)} request records", where):
                    with engines.writer.begin() as conn:
                        written = records.write(conn, batch)
                _reply(out, {"written": written})
            except StoreError as exc:
                _reply(out, {"error": exc.message, "hint": exc.hint})
            except (orjson.JSONDecodeError, TypeError) as exc:
                _reply(out, {"error": f"the record writer got a malformed batch ({exc})", "hint": None})
    finally:
        engines.writer.dispose()
        engines.reader.dispose()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if len(sys.argv) != 2:
        print("usage: python -m slipway.store.record_writer_child STORE_URL", file=sys.stderr)
        return 2
    return serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
