"""The sinks one `slipway serve` tells people through: the log, webhooks and e-mail, and what each answered.

Settings are read from the config at each notification, so a reloaded
`notify:` section applies to the next message without rebuilding anything;
each sink's outcome goes to the store through one delivery log.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from slipway.core.config import NotifyConfig
from slipway.core.deliveries import Delivery, DeliveryStore, Outcome, SinkAnswer
from slipway.core.errors import SlipwayError
from slipway.core.notifications import Notification
from slipway.core.ports import KeptStore, Notifier
from slipway.notify.deliveries import DeliveryLog
from slipway.notify.fanout import Fanout, When
from slipway.notify.log import LogNotifier
from slipway.notify.smtp import EmailNotifier, EmailSettings
from slipway.notify.webhook import WebhookNotifier, WebhookSettings

log = logging.getLogger("slipway.notify")

#: Store meta key (+ the replica's id): what this replica's sinks had not received when it stopped.
PENDING_META_PREFIX = "notify_pending:"
#: At most this many kept per sink (the newest): a sink down for days does not fill the store.
MAX_KEPT = 1000


class Notifiers:
    def __init__(self, config: Callable[[], NotifyConfig]) -> None:
        self._config = config
        #: Each sink's final outcome per notification, written to the store once it is open.
        self.deliveries = DeliveryLog()
        self.webhooks = WebhookNotifier(self._webhook_settings, deliveries=self.deliveries)
        self.email = EmailNotifier(self._email_settings, deliveries=self.deliveries)
        self._meta: KeptStore | None = None
        self._key = ""

    def _webhook_settings(self) -> WebhookSettings:
        cfg = self._config()
        return WebhookSettings(
            urls=tuple(cfg.webhooks),
            timeout_s=cfg.timeout_s,
            retries=cfg.retries,
            backoff_s=cfg.backoff_s,
            retry_for_s=cfg.retry_for_s(),
            secret_env=cfg.secret_env,
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

    async def start(self, store: DeliveryStore, kept: KeptStore, replica: str) -> None:
        """Start the sinks, first queueing what stopped replicas (this one's last run too) kept."""
        self._meta, self._key = kept, f"{PENDING_META_PREFIX}{replica}"
        self.deliveries.start(store)
        self.webhooks.start()
        self.email.start()
        await self._requeue()

    async def close(self) -> None:
        # Side by side: the stop waits out one drain (5 s at most), not one per kind of sink.
        hooks, mails = await asyncio.gather(self.webhooks.close(), self.email.close())
        await self._keep(hooks, mails)
        await self.deliveries.close()

    async def _keep(self, hooks: dict[str, list[Notification]], mails: list[Notification]) -> None:
        """Write what the sinks have not received to the store, for the next replica that starts.

        A sink that was down when slipway stopped (a rolling restart during a
        Slack outage) gets its notifications after the restart, in order,
        rather than never. A store that is down too loses them, loudly.
        """
        if not hooks and not mails:
            return
        kept = {
            "webhooks": {url: [n.to_dict() for n in notes[-MAX_KEPT:]] for url, notes in hooks.items()},
            "email": [n.to_dict() for n in mails[-MAX_KEPT:]],
        }
        count = sum(len(v) for v in hooks.values()) + len(mails)
        if self._meta is None:
            log.error("%d notification(s) not delivered and no store to keep them in: lost", count)
            return
        try:
            await self._meta.set_meta(self._key, json.dumps(kept))
        except SlipwayError as exc:
            log.error("%d notification(s) not delivered and could not be kept (%s): lost", count, exc)
            return
        log.warning("%d notification(s) not delivered yet; kept in the store for the next start", count)

    async def _requeue(self) -> None:
        """Queue again what replicas kept as they stopped; each kept set is taken by one replica only.

        Any replica's, not only this one's: a replica's id changes with each
        start (a new pod, a new pid), and a replica that never comes back must
        not take its undelivered notifications with it.
        """
        assert self._meta is not None
        try:
            kept = await self._meta.take_meta(PENDING_META_PREFIX)
        except SlipwayError as exc:
            log.error("could not read the notifications stopped replicas kept: %s", exc)
            return
        total = 0
        for key, raw in sorted(kept.items()):
            try:
                data = json.loads(raw)
                hooks = {
                    str(url): [Notification.from_dict(n) for n in notes]
                    for url, notes in dict(data.get("webhooks", {})).items()
                }
                mails = [Notification.from_dict(n) for n in data.get("email", [])]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.error("notifications kept under %s are unreadable (%s); dropped", key, exc)
                continue
            for url, notes in hooks.items():
                if self.webhooks.requeue(url, notes):
                    total += len(notes)
                else:
                    log.warning("%d kept notification(s) for a hook no longer configured dropped", len(notes))
            if mails and self.email.requeue(mails):
                total += len(mails)
            elif mails:
                log.warning(
                    "%d kept e-mail notification(s) dropped: e-mail is no longer configured", len(mails)
                )
        if total:
            log.info("%d notification(s) kept by stopped replicas queued again", total)

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
