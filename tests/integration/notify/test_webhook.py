"""Webhooks against real HTTP servers: retried with backoff, bounded by a timeout, never blocking."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tests.servers import run_asgi
from tests.webhooks import webhook_receiver

from slipway.core.notifications import Notification
from slipway.notify.webhook import WebhookNotifier, WebhookSettings

NOTE = Notification(event="canary.phase", title="canary v2.2: phase 1 passed")


def settings(*urls: str, timeout_s: float = 2.0, retries: int = 3) -> WebhookSettings:
    return WebhookSettings(urls=urls, timeout_s=timeout_s, retries=retries, backoff_s=0.05)


async def test_a_notification_reaches_every_hook_after_retries() -> None:
    with webhook_receiver(fail_first=2) as flaky, webhook_receiver() as steady:
        notifier = WebhookNotifier(lambda: settings(flaky.url, steady.url))
        notifier.start()
        try:
            notifier.notify(NOTE)
            # Only queued: the caller never waits for a hook (the loop has not run the sender yet)
            assert flaky.bodies() == [] and steady.bodies() == [] and notifier.stats.sent == 0
            await notifier.flush()
        finally:
            await notifier.close()
        assert [b["slipway"]["event"] for b in flaky.bodies()] == ["canary.phase"]
        assert [b["text"] for b in steady.bodies()] == [":white_check_mark: canary v2.2: phase 1 passed"]
        assert (notifier.stats.sent, notifier.stats.failed) == (2, 0)


async def test_a_refusing_hook_is_not_retried_and_a_hanging_one_times_out() -> None:
    calls = {"refuse": 0, "hang": 0}

    async def refuse(_request: Request) -> JSONResponse:
        calls["refuse"] += 1
        return JSONResponse({"error": "invalid_payload"}, status_code=400)

    async def hang(_request: Request) -> JSONResponse:
        calls["hang"] += 1
        await asyncio.sleep(5)
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/refuse", refuse, methods=["POST"]), Route("/hang", hang, methods=["POST"])]
    )
    with run_asgi(app, graceful_s=0.1) as url:
        notifier = WebhookNotifier(lambda: settings(f"{url}/refuse", f"{url}/hang", timeout_s=0.2, retries=1))
        notifier.start()
        try:
            notifier.notify(NOTE)
            await notifier.flush()
        finally:
            await notifier.close()
    # The hanging hook would answer 200 after 5 s: failed twice means both attempts timed out
    assert calls == {"refuse": 1, "hang": 2}
    assert notifier.stats.failed == 2 and notifier.stats.sent == 0


async def test_without_hooks_nothing_is_queued() -> None:
    notifier = WebhookNotifier(lambda: WebhookSettings())
    notifier.notify(NOTE)
    await notifier.close()
    assert notifier.stats == type(notifier.stats)()
