"""A raw HTTP/1.1 client: sends exactly the bytes a hostile client would, and reads whatever comes back.

httpx and requests refuse to send control characters, non-UTF-8 bytes or line
breaks in header values; a client on the internet is under no such rule. Each
request uses its own connection (`Connection: close`), so one mangled request
cannot poison the next.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: Long enough for a whole streamed answer from the sim; a hang is a finding, found by the timeout.
READ_TIMEOUT_S = 30.0


@dataclass
class Reply:
    #: 0 when the server closed the connection without a status line.
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def text(self, limit: int = 600) -> str:
        shown = self.body[:limit].decode("utf-8", "replace")
        return shown + (f"... (+{len(self.body) - limit} bytes)" if len(self.body) > limit else "")


def request_bytes(
    method: bytes,
    target: bytes,
    host: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    *,
    chunks: list[int] | None = None,
) -> bytes:
    """The request as sent: Content-Length framing, or chunked framing split at `chunks` offsets."""
    lines = [method + b" " + target + b" HTTP/1.1", b"host: " + host]
    lines += [name + b": " + value for name, value in headers]
    lines.append(b"connection: close")
    if chunks is None:
        lines.append(b"content-length: " + str(len(body)).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + body
    lines.append(b"transfer-encoding: chunked")
    out = b"\r\n".join(lines) + b"\r\n\r\n"
    cuts = sorted({c for c in chunks if 0 < c < len(body)})
    start = 0
    for end in [*cuts, len(body)]:
        piece = body[start:end]
        if piece:
            out += f"{len(piece):x}".encode() + b"\r\n" + piece + b"\r\n"
        start = end
    return out + b"0\r\n\r\n"


def send(base_url: str, raw: bytes) -> Reply:
    """Send `raw` to the server at `base_url` and read one response to its end."""
    where = urlsplit(base_url)
    assert where.hostname is not None and where.port is not None
    with socket.create_connection((where.hostname, where.port), timeout=READ_TIMEOUT_S) as sock:
        try:
            sock.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            # The server answered early (a 413, a 400 on the headers) and closed: read that answer.
            pass
        response = http.client.HTTPResponse(sock, method="GET" if raw.startswith(b"GET") else "POST")
        try:
            response.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Reply(0)
        try:
            body = response.read()
        except http.client.IncompleteRead as exc:
            body = exc.partial
        except ConnectionResetError:
            body = b""
        headers = {k.lower(): v for k, v in response.getheaders()}
        return Reply(response.status, headers, body)
