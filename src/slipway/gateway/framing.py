"""Incremental decoders for the two stream framings backends use: SSE and NDJSON.

Chunks arrive split anywhere; the decoders hand out whole events or lines,
and refuse a line that never ends rather than buffer without bound.
"""

from __future__ import annotations

from slipway.core.errors import BackendError


class SSEDecoder:
    """Server-sent events bytes in, complete `data` payloads out.

    Chunks may split anywhere, even between a CR and its LF. Multi-line data
    is joined with newlines (the SSE spec); comments and other fields are
    skipped. Linear in the bytes fed: a line is copied only when it straddles
    two chunks.
    """

    __slots__ = ("_cr", "_data", "_max", "_tail")

    def __init__(self, max_buffer: int = 16 * 1024 * 1024) -> None:
        self._tail = b""
        self._cr = False
        self._data: list[bytes] = []
        self._max = max_buffer

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._cr = False
        if not chunk:
            return []
        buf = self._tail + chunk if self._tail else chunk
        if b"\r" in buf:
            self._cr = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:
            raise BackendError(
                f"the backend sent an SSE line longer than {self._max} bytes",
                hint="check that the slot's endpoint is an OpenAI-compatible server",
            )
        out: list[bytes] = []
        data = self._data
        for line in lines:
            if not line:
                if data:
                    out.append(data[0] if len(data) == 1 else b"\n".join(data))
                    data.clear()
            elif line.startswith(b"data:"):
                data.append(line[6:] if line[5:6] == b" " else line[5:])
            elif line == b"data":
                data.append(b"")
        return out

    def finish(self) -> list[bytes]:
        """What is pending at end of stream: servers that omit the last blank line still count."""
        if self._tail.startswith(b"data:"):
            self._data.append(self._tail[6:] if self._tail[5:6] == b" " else self._tail[5:])
        self._tail = b""
        if not self._data:
            return []
        payload = b"\n".join(self._data)
        self._data.clear()
        return [payload]


class NDJSONDecoder:
    """Newline-delimited JSON bytes in, complete non-empty lines out (parse with orjson)."""

    __slots__ = ("_max", "_tail")

    def __init__(self, max_buffer: int = 16 * 1024 * 1024) -> None:
        self._tail = b""
        self._max = max_buffer

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._tail + chunk if self._tail else chunk
        lines = buf.split(b"\n")
        self._tail = lines.pop()
        if len(self._tail) > self._max:
            raise BackendError(
                f"the backend sent an NDJSON line longer than {self._max} bytes",
                hint="check that the slot's endpoint is an Ollama server",
            )
        return [line for line in (raw.strip() for raw in lines) if line]

    def finish(self) -> list[bytes]:
        tail, self._tail = self._tail.strip(), b""
        return [tail] if tail else []
