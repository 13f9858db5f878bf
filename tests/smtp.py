"""A real SMTP server for tests: aiosmtpd on loopback, keeping every message it accepts.

`fail_first` answers that many messages with a 451 ("try again later"), so
retries and recovery can be exercised against the same server.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Mailbox:
    host: str
    port: int
    fail_next: int = 0
    received: list[tuple[Envelope, EmailMessage]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def messages(self) -> list[EmailMessage]:
        with self._lock:
            return [m for _, m in self.received]

    def envelopes(self) -> list[Envelope]:
        with self._lock:
            return [e for e, _ in self.received]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages()) < count:
            if time.monotonic() > deadline:
                got = [m["Subject"] for m in self.messages()]
                raise AssertionError(f"{count} mails expected within {timeout:g}s; got {got}")
            time.sleep(0.02)
        return self.messages()


class _Handler:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.box._lock:
            if self.box.fail_next > 0:
                self.box.fail_next -= 1
                return "451 4.3.0 try again later"
            raw = envelope.original_content or b""
            message: Any = message_from_bytes(raw, policy=policy.default)
            self.box.received.append((envelope, message))
        return "250 2.0.0 queued"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _authenticator(login: tuple[str, str]) -> Any:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == login
        return AuthResult(success=ok, handled=False)

    return check


@contextlib.contextmanager
def smtp_server(
    *, fail_first: int = 0, port: int = 0, login: tuple[str, str] | None = None
) -> Iterator[Mailbox]:
    """`login`: the (user, password) a login must give (over plain TCP: this is loopback)."""
    box = Mailbox(host="127.0.0.1", port=port or free_port(), fail_next=fail_first)
    auth: dict[str, Any] = {}
    if login is not None:
        # Loopback only, so a login over plain TCP is fine.
        auth = {"authenticator": _authenticator(login), "auth_require_tls": False}
    controller = Controller(_Handler(box), hostname=box.host, port=box.port, **auth)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
