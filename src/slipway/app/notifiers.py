"""The sinks one `slipway serve` tells people through: the log, webhooks and e-mail, and what each answered.

Settings are read from the config at each notification, so a reloaded
`notify:` section applies to the next message without rebuilding anything;
each sink's outcome goes to the store through one delivery log. What the
sinks have not received is kept in the store while the replica runs, and
taken over by another replica once this one stops beating (a crash too).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slipway.app.replica import LIVE_WITHIN_S
from slipway.core.config import NotifyConfig
from slipway.core.deliveries import Delivery, DeliveryStore, Outcome, SinkAnswer
from slipway.core.errors import SlipwayError
from slipway.core.notifications import Notification
from slipway.core.ports import KeptStore, Notifier
from slipway.notify.deliveries import DeliveryLog
from slipway.notify.fanout import Fanout, When
from slipway.notify.keeper import Keeper
from slipway.notify.kept import Kept, encode
from slipway.notify.log import LogNotifier
from slipway.notify.smtp import EmailNotifier, EmailSettings
from slipway.notify.takeover import Takeover
from slipway.notify.webhook import WebhookNotifier, WebhookSettings

log = logging.getLogger("slipway.notify")

#: Store meta key (+ the replica's id): what this replica's sinks have not received yet, kept up to
#: date while it runs; taken over by another replica once its heartbeat goes silent.
PENDING_META_PREFIX = "notify_pending:"


class Notifiers:
    def __init__(self, config: Callable[[], NotifyConfig]) -> None:
        self._config = config
        #: Each sink's final outcome per notification, written to the store once it is open.
        self.deliveries = DeliveryLog()
        self.webhooks = WebhookNotifier(
            self._webhook_settings, deliveries=self.deliveries, on_change=self._changed
        )
        self.email = EmailNotifier(self._email_settings, deliveries=self.deliveries, on_change=self._changed)
        self._meta: KeptStore | None = None
        self._key = ""
        #: Keeps the undelivered set in the store while this replica runs (a `kill -9` loses nothing).
        self._keeper: Keeper | None = None
        #: Takes over the sets replicas that stopped beating kept.
        self._takeover: Takeover | None = None

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

    async def start(
        self, store: DeliveryStore, kept: KeptStore, replica: str, *, live_within_s: float = LIVE_WITHIN_S
    ) -> None:
        """Start the sinks, first queueing what replicas that stopped beating kept.

        `replica` is this replica's id as its heartbeat names it: the key it
        keeps its own undelivered set under, which others take once it is
        silent for `live_within_s`.
        """
        self._meta, self._key = kept, f"{PENDING_META_PREFIX}{replica}"
        self._keeper = Keeper(kept, self._key, self._pending)
        self._takeover = Takeover(
            kept,
            prefix=PENDING_META_PREFIX,
            mine=self._key,
            live_within_s=live_within_s,
            requeue=self._requeue,
            every_s=live_within_s / 2,
        )
        self.deliveries.start(store)
        self.webhooks.start()
        self.email.start()
        queued = await self._takeover.once()
        if queued:
            log.info("%d notification(s) kept by stopped replicas queued again", queued)
        self._keeper.start()
        self._takeover.start()

    async def close(self) -> None:
        """Stop the sinks after a drain, then keep exactly what they have not received.

        The keeper stops first: until the final write the key holds a superset
        of what is left (a kill during the drain repeats, never loses).
        """
        if self._takeover is not None:
            await self._takeover.close()
        if self._keeper is not None:
            await self._keeper.close()
        # Side by side: the stop waits out one drain (5 s at most), not one per kind of sink.
        hooks, mails = await asyncio.gather(self.webhooks.close(), self.email.close())
        await self._keep(Kept(hooks, mails))
        await self.deliveries.close()

    def _pending(self) -> str | None:
        """What the sinks have not received, as kept in the store; None when nothing is pending."""
        kept = Kept(self.webhooks.pending(), self.email.pending())
        return encode(kept) if kept.count else None

    def _changed(self) -> None:
        if self._keeper is not None:
            self._keeper.changed()

    async def _keep(self, kept: Kept) -> None:
        """Write what the sinks have not received to the store, for a replica still running or the next.

        A sink that was down when slipway stopped (a rolling restart during a
        Slack outage) gets its notifications after the restart, in order,
        rather than never. A store that is down too loses them, loudly.
        """
        if self._meta is None:
            if kept.count:
                log.error("%d notification(s) not delivered and no store to keep them in: lost", kept.count)
            return
        try:
            if not kept.count:
                await self._meta.delete_meta(self._key)
                return
            await self._meta.set_meta(self._key, encode(kept))
        except SlipwayError as exc:
            if kept.count:
                log.error("%d notification(s) not delivered, could not be kept (%s): lost", kept.count, exc)
            else:
                log.warning("could not clear the notifications kept while running (%s): may repeat", exc)
            return
        log.warning("%d notification(s) not delivered yet; kept in the store for another replica", kept.count)

    def _requeue(self, kept: Kept) -> int:
        """Queue a set another replica kept on this one's sinks; how many were queued.

        Any replica's, not only this one's last run: a replica's id changes
        with each start (a new pod, a new pid), and a replica that never comes
        back must not take its undelivered notifications with it.
        """
        total = 0
        for url, notes in kept.webhooks.items():
            if self.webhooks.requeue(url, notes):
                total += len(notes)
            else:
                log.warning("%d kept notification(s) for a hook no longer configured dropped", len(notes))
        if kept.email and self.email.requeue(kept.email):
            total += len(kept.email)
        elif kept.email:
            log.warning(
                "%d kept e-mail notification(s) dropped: e-mail is no longer configured", len(kept.email)
            )
        return total

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
