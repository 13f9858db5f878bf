"""The sinks one `slipway serve` tells people through: the log, webhooks and e-mail, and what each answered.

Settings are read from the config at each notification, so a reloaded
`notify:` section applies to the next message without rebuilding anything;
each sink's outcome goes to the store through one delivery log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from slipway.core.config import NotifyConfig
from slipway.core.deliveries import Delivery, DeliveryStore, Outcome, SinkAnswer
from slipway.core.notifications import Notification
from slipway.core.ports import Notifier
from slipway.notify.deliveries import DeliveryLog
from slipway.notify.fanout import Fanout, When
from slipway.notify.log import LogNotifier
from slipway.notify.smtp import EmailNotifier, EmailSettings
from slipway.notify.webhook import WebhookNotifier, WebhookSettings


class Notifiers:
    def __init__(self, config: Callable[[], NotifyConfig]) -> None:
        self._config = config
        #: Each sink's final outcome per notification, written to the store once it is open.
        self.deliveries = DeliveryLog()
        self.webhooks = WebhookNotifier(self._webhook_settings, deliveries=self.deliveries)
        self.email = EmailNotifier(self._email_settings, deliveries=self.deliveries)

    def _webhook_settings(self) -> WebhookSettings:
        cfg = self._config()
        return WebhookSettings(
            urls=tuple(cfg.webhooks),
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            retry_for_s=cfg.retry_for_s(),
        )

    def _email_settings(self) -> EmailSettings | None:
        cfg = self._config()
        mail = cfg.email
        if mail is None:
            return None
        return EmailSettings(
            host=mail.host,
            port=mail.port,
            sender=mail.sender,
            to=tuple(mail.to),
            starttls=mail.starttls,
            username=mail.username,
            password_env=mail.password_env,
            timeout_s=mail.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            retry_for_s=cfg.retry_for_s(),
        )

    def notifier(self) -> Notifier:
        """The log (unless `notify.log: false`), webhooks and e-mail."""
        return Fanout([When(LogNotifier(), lambda: self._config().log), self.webhooks, self.email])

    def start(self, store: DeliveryStore) -> None:
        self.deliveries.start(store)
        self.webhooks.start()
        self.email.start()

    async def close(self) -> None:
        # Side by side: the stop waits out one drain (5 s at most), not one per kind of sink.
        await asyncio.gather(self.webhooks.close(), self.email.close())
        await self.deliveries.close()

    async def send_test(self, actor: str) -> list[SinkAnswer]:
        """One test message to each configured sink, now: what each answered (also recorded)."""
        note = Notification(
            event="notify.test",
            title=f"test notification from slipway, sent by {actor}",
            text="If you can read this, slipway's notifications reach you here.",
            facts={"by": actor},
            at=time.time(),
        )
        answers = await self.webhooks.send_test(note) + await self.email.send_test(note)
        for a in answers:
            outcome = Outcome.DELIVERED if a.ok else Outcome.FAILED
            problem = None if a.ok else a.answer
            self.deliveries.record(Delivery(a.sink, note.event, note.title, outcome, 1, problem, time.time()))
        return answers
