"""Several notifiers as one: each gets every notification; one failing never stops the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from slipway.core.notifications import Notification
from slipway.core.ports import Notifier

log = logging.getLogger("slipway.notify")


class Fanout:
    def __init__(self, notifiers: Sequence[Notifier]) -> None:
        self._notifiers = tuple(notifiers)

    def notify(self, notification: Notification) -> None:
        for notifier in self._notifiers:
            try:
                notifier.notify(notification)
            except Exception:
                log.exception("notifier %s failed", type(notifier).__name__)


class When:
    """A notifier that is asked only while `enabled()` says so (a setting read at each notification)."""

    def __init__(self, notifier: Notifier, enabled: Callable[[], bool]) -> None:
        self._notifier = notifier
        self._enabled = enabled

    def notify(self, notification: Notification) -> None:
        if self._enabled():
            self._notifier.notify(notification)
