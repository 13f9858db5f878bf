"""Webhooks: each notification POSTed as Slack-compatible JSON to every configured URL.

`notify` only queues: a slow or dead webhook never holds up the controller.
A background task sends, with a timeout per attempt and retries with
backoff; a notification that still fails is logged and dropped. URLs are
secrets (a Slack webhook URL is a credential), so logs name only the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from slipway.core.notifications import Notification
from slipway.notify.slack import slack_payload

log = logging.getLogger("slipway.notify")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    urls: tuple[str, ...] = ()
    timeout_s: float = 5.0
    retries: int = 3
    #: First pause between attempts; doubles after each failure.
    backoff_s: float = 1.0


@dataclass
class WebhookStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


class WebhookNotifier:
    def __init__(
        self,
        settings: Callable[[], WebhookSettings],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_queue: int = 1000,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._queue: asyncio.Queue[Notification] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.stats = WebhookStats()

    def start(self) -> None:
        self._client = httpx.AsyncClient(transport=self._transport)
        self._task = asyncio.create_task(self._run(), name="slipway-webhooks")

    def notify(self, notification: Notification) -> None:
        if not self._settings().urls:
            return
        try:
            self._queue.put_nowait(notification)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            log.error("webhook queue full; dropped notification: %s", notification.title)

    async def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far was sent or given up on (tests, shutdown)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)

    async def close(self, drain_s: float = 5.0) -> None:
        if self._task is not None:
            await self.flush(drain_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            note = await self._queue.get()
            try:
                settings = self._settings()
                payload = slack_payload(note)
                await asyncio.gather(*(self._send(url, payload, settings) for url in settings.urls))
            except Exception:  # a bug here must not stop later notifications
                log.exception("webhook delivery failed unexpectedly")
            finally:
                self._queue.task_done()

    async def _send(self, url: str, payload: dict[str, object], settings: WebhookSettings) -> None:
        assert self._client is not None
        pause = settings.backoff_s
        for attempt in range(1, settings.retries + 2):
            try:
                resp = await self._client.post(url, json=payload, timeout=settings.timeout_s)
                if resp.status_code < 300:
                    self.stats.sent += 1
                    return
                problem = f"HTTP {resp.status_code}"
                if 400 <= resp.status_code < 500 and resp.status_code not in (408, 429):
                    break  # the hook refuses this payload; retrying will not help
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt <= settings.retries:
                log.warning("webhook %s failed (%s); retry %d in %gs", _where(url), problem, attempt, pause)
                await asyncio.sleep(pause)
                pause *= 2
        self.stats.failed += 1
        log.error("webhook %s failed for good (%s): %s", _where(url), problem, payload.get("text"))
