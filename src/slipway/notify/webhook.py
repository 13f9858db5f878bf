"""Webhooks: each notification POSTed as Slack-compatible JSON to every configured URL.

`notify` only queues: a slow or dead webhook never holds up the controller.
A background task sends, with a timeout per attempt and retries with
backoff; a notification that still fails is logged and dropped. Each
hook's final outcome goes to the delivery log, if one is given. URLs are
secrets (a Slack webhook URL is a credential), so logs and delivery records
name only the host.

With `notify.secret_env` set, each body is signed: `X-Slipway-Timestamp` is
the send time in Unix seconds and `X-Slipway-Signature` is `v1=` and the hex
HMAC-SHA256, keyed with that variable's value, of `<timestamp>.<body bytes>`.
A receiver recomputes it over the raw body and rejects old timestamps, so a
forged or replayed rollback message is refused. The key is read at each
attempt; a variable that is unset fails the delivery rather than send it
unsigned.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from slipway.core.deliveries import DeliverySink, SinkAnswer
from slipway.core.notifications import Notification
from slipway.notify.attempts import Attempt, report, with_retries
from slipway.notify.outbox import Outbox
from slipway.notify.slack import slack_payload

log = logging.getLogger("slipway.notify")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    urls: tuple[str, ...] = ()
    timeout_s: float = 5.0
    retries: int = 3
    #: First pause between attempts; doubles after each failure.
    backoff_s: float = 1.0
    #: Keep retrying a failed delivery this long (seconds) after its first attempt.
    retry_for_s: float = 0.0
    #: Environment variable holding the signing key; None: bodies are not signed.
    secret_env: str | None = None


@dataclass
class WebhookStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"webhook {parts.scheme}://{parts.netloc}/…"


class WebhookNotifier:
    def __init__(
        self,
        settings: Callable[[], WebhookSettings],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_queue: int = 1000,
        deliveries: DeliverySink | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._deliveries = deliveries
        self._transport = transport
        self._max_queue = max_queue
        #: Called whenever what some hook has not received changes (to keep a copy in the store).
        self._on_change = on_change
        #: One outbox per hook: a hook that is down delays its own notifications, never another's.
        self._outboxes: dict[str, Outbox] = {}
        self._client: httpx.AsyncClient | None = None
        self.stats = WebhookStats()

    def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport)
        for outbox in self._outboxes.values():
            outbox.start()

    def notify(self, notification: Notification) -> None:
        for url in self._settings().urls:
            if not self._outbox(url).put(notification):
                self.stats.dropped += 1

    def _outbox(self, url: str) -> Outbox:
        outbox = self._outboxes.get(url)
        if outbox is None:
            outbox = self._outboxes[url] = Outbox(
                _where(url),
                lambda note: self._send(url, note),
                max_queue=self._max_queue,
                on_change=self._on_change,
            )
            if self._client is not None:
                outbox.start()
        return outbox

    def pending(self) -> dict[str, list[Notification]]:
        """Per hook URL, what it has not received yet (oldest first); hooks with nothing left out."""
        return {url: notes for url, o in self._outboxes.items() if (notes := o.pending())}

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was sent or given up on (tests, shutdown)."""
        await asyncio.gather(*(o.flush(timeout) for o in list(self._outboxes.values())))

    async def close(self, drain_s: float = 5.0) -> dict[str, list[Notification]]:
        """Stop after a drain of up to `drain_s`; per hook URL, what it has not received yet."""
        urls = list(self._outboxes)
        left = await asyncio.gather(*(self._outboxes[u].close(drain_s) for u in urls))
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        return {url: notes for url, notes in zip(urls, left, strict=True) if notes}

    def requeue(self, url: str, notes: list[Notification]) -> bool:
        """Queue what an earlier run could not deliver to `url`; False if that hook is not configured now."""
        if url not in self._settings().urls:
            return False
        outbox = self._outbox(url)
        for note in notes:
            if not outbox.put(note):
                self.stats.dropped += 1
        return True

    async def _send(self, url: str, note: Notification) -> None:
        assert self._client is not None
        settings = self._settings()
        client, where, payload = self._client, _where(url), slack_payload(note)
        tried = await with_retries(
            lambda: _attempt(client, url, payload, settings),
            retries=settings.retries,
            backoff_s=settings.backoff_s,
            where=where,
            retry_for_s=settings.retry_for_s,
        )
        if tried.last.ok:
            self.stats.sent += 1
        else:
            self.stats.failed += 1
        report(self._deliveries, where, note, tried)

    async def send_test(self, note: Notification) -> list[SinkAnswer]:
        """One attempt per hook, now, and what each answered (`slipway notify test`); nothing recorded."""
        settings = self._settings()
        payload = slack_payload(note)
        async with httpx.AsyncClient(transport=self._transport) as client:
            answers = await asyncio.gather(*(_attempt(client, u, payload, settings) for u in settings.urls))
        return [SinkAnswer(_where(u), a.ok, a.answer) for u, a in zip(settings.urls, answers, strict=True)]


def signature(key: bytes, timestamp: str, body: bytes) -> str:
    """The `X-Slipway-Signature` value for `body` sent at `timestamp`."""
    return "v1=" + hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def _attempt(
    client: httpx.AsyncClient, url: str, payload: dict[str, object], settings: WebhookSettings
) -> Attempt:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    if settings.secret_env is not None:
        key = os.environ.get(settings.secret_env)
        if not key:
            return Attempt(False, f"environment variable {settings.secret_env} is not set", final=True)
        stamp = str(int(time.time()))
        headers |= {"x-slipway-timestamp": stamp, "x-slipway-signature": signature(key.encode(), stamp, body)}
    try:
        resp = await client.post(url, content=body, headers=headers, timeout=settings.timeout_s)
    except httpx.HTTPError as exc:
        return Attempt(False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    answer = f"HTTP {resp.status_code}"
    if resp.status_code < 300:
        return Attempt(True, answer)
    # A 4xx (but a timeout or a rate limit) means the hook refuses this payload: retrying will not help.
    refused = 400 <= resp.status_code < 500 and resp.status_code not in (408, 429)
    return Attempt(False, answer, final=refused)
