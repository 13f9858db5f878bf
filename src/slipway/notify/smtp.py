"""E-mail through an SMTP server: each notification mailed to the configured people, off the event loop.

`notify` only queues, like the webhooks. A background task sends each mail
with the standard library's `smtplib` in a worker thread (so a slow server
never holds up the event loop, a request or a controller), with a timeout
per attempt and retries with backoff. A permanent refusal (a 5xx reply, a
failed login, no STARTTLS where it is asked for) is not retried. The
password is read from its environment variable at each attempt and never
logged; logs and delivery records name the server only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY

from slipway.core.deliveries import DeliverySink, SinkAnswer
from slipway.core.notifications import Notification
from slipway.notify.attempts import Attempt, report, with_retries
from slipway.notify.mail_text import mail_message
from slipway.notify.outbox import Outbox

log = logging.getLogger("slipway.notify")


@dataclass(frozen=True, slots=True)
class EmailSettings:
    host: str
    port: int
    sender: str
    to: tuple[str, ...]
    starttls: bool = True
    username: str | None = None
    password_env: str | None = None
    timeout_s: float = 10.0
    retries: int = 3
    #: First pause between attempts; doubles after each failure.
    backoff_s: float = 1.0
    #: Keep retrying a failed delivery this long (seconds) after its first attempt.
    retry_for_s: float = 0.0

    @property
    def where(self) -> str:
        return f"email {self.host}:{self.port}"


@dataclass
class EmailStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


class EmailNotifier:
    def __init__(
        self,
        settings: Callable[[], EmailSettings | None],
        *,
        max_queue: int = 1000,
        deliveries: DeliverySink | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._deliveries = deliveries
        #: `on_change`: called whenever what was not mailed yet changes (to keep a copy in the store).
        self._outbox = Outbox("e-mail", self._deliver, max_queue=max_queue, on_change=on_change)
        self.stats = EmailStats()

    def start(self) -> None:
        self._outbox.start()

    def notify(self, notification: Notification) -> None:
        if self._settings() is not None and not self._outbox.put(notification):
            self.stats.dropped += 1

    def pending(self) -> list[Notification]:
        """What was not mailed yet, oldest first."""
        return self._outbox.pending()

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was sent or given up on (tests, shutdown)."""
        await self._outbox.flush(timeout)

    async def close(self, drain_s: float = 5.0) -> list[Notification]:
        """Stop after a drain of up to `drain_s`; what was not mailed yet."""
        return await self._outbox.close(drain_s)

    def requeue(self, notes: list[Notification]) -> bool:
        """Queue what an earlier run could not mail; False if e-mail is no longer configured."""
        if self._settings() is None:
            return False
        for note in notes:
            if not self._outbox.put(note):
                self.stats.dropped += 1
        return True

    async def send_test(self, note: Notification) -> list[SinkAnswer]:
        """One attempt, now, and what the server answered (`slipway notify test`); nothing recorded."""
        settings = self._settings()
        if settings is None:
            return []
        answer = await _attempt(note, settings)
        return [SinkAnswer(settings.where, answer.ok, answer.answer)]

    async def _deliver(self, note: Notification) -> None:
        settings = self._settings()
        if settings is not None:
            await self._send(note, settings)

    async def _send(self, note: Notification, settings: EmailSettings) -> None:
        tried = await with_retries(
            lambda: _attempt(note, settings),
            retries=settings.retries,
            backoff_s=settings.backoff_s,
            where=settings.where,
            retry_for_s=settings.retry_for_s,
        )
        if tried.last.ok:
            self.stats.sent += 1
        else:
            self.stats.failed += 1
        report(self._deliveries, settings.where, note, tried)


async def _attempt(note: Notification, settings: EmailSettings) -> Attempt:
    message = mail_message(note, sender=settings.sender, to=settings.to)
    try:
        return await asyncio.to_thread(_deliver, message, settings)
    except smtplib.SMTPResponseException as exc:
        said = exc.smtp_error
        text = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        # 5xx is the server's final word (a refused sender, a failed login); 4xx is "try later".
        return Attempt(False, f"{exc.smtp_code} {text}".strip(), final=exc.smtp_code >= 500)
    except smtplib.SMTPNotSupportedError as exc:
        return Attempt(False, f"{exc}; set notify.email.starttls: false for a server without it", True)
    except (smtplib.SMTPException, OSError) as exc:
        return Attempt(False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _deliver(message: EmailMessage, settings: EmailSettings) -> Attempt:
    """One SMTP session (in a worker thread): the server's reply to the message, or an exception."""
    password = None
    if settings.password_env is not None:
        password = os.environ.get(settings.password_env)
        if password is None:
            return Attempt(False, f"environment variable {settings.password_env} is not set", final=True)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s) as smtp:
        smtp.ehlo()
        if settings.starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.username is not None and password is not None:
            smtp.login(settings.username, password)
        code, reply = smtp.mail(settings.sender)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, reply, settings.sender)
        refused = []
        for rcpt in settings.to:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                refused.append(f"{rcpt} ({code})")
        if len(refused) == len(settings.to):
            raise smtplib.SMTPResponseException(code, reply)
        # RFC 5321 lines end in CRLF; smtplib converts bare LFs only in str, never in bytes, and a strict
        # server reads a bare-LF mail as one line (refused over 1000 bytes).
        code, reply = smtp.data(message.as_bytes(policy=SMTP_POLICY))
        if code != 250:
            raise smtplib.SMTPResponseException(code, reply)
    answer = f"{code} {reply.decode(errors='replace')}".strip()
    if refused:
        answer += "; refused: " + ", ".join(refused)
    return Attempt(True, answer)
