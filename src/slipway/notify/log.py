"""Notifications to the log (`slipway.notify`): the title, and the metric table under it."""

from __future__ import annotations

import logging

from slipway.core.notifications import Notification, Severity
from slipway.notify.slack import metric_table

LEVELS = {Severity.INFO: logging.INFO, Severity.WARNING: logging.WARNING, Severity.CRITICAL: logging.ERROR}


class LogNotifier:
    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("slipway.notify")

    def notify(self, notification: Notification) -> None:
        lines = [notification.title]
        if notification.text:
            lines.append(notification.text)
        if notification.metrics:
            lines.append(metric_table(notification.metrics))
        self._log.log(LEVELS[notification.severity], "%s", "\n".join(lines))
