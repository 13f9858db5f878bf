"""Undelivered notifications as the JSON kept in the store, and back.

One format for the set a replica keeps while it runs and the one it leaves
as it stops, so whichever replica takes it over reads either the same way.
Each notification carries all it needs to be sent again (`Notification.to_dict`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from slipway.core.notifications import Notification

#: At most this many kept per sink (the newest): a sink down for days does not fill the store.
MAX_KEPT = 1000


@dataclass(frozen=True, slots=True)
class Kept:
    """Per webhook URL, and for e-mail, what the sink has not received, oldest first."""

    webhooks: dict[str, list[Notification]] = field(default_factory=dict)
    email: list[Notification] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(notes) for notes in self.webhooks.values()) + len(self.email)


def encode(kept: Kept) -> str:
    """The JSON for `kept`, the newest `MAX_KEPT` per sink."""
    hooks = {url: [n.to_dict() for n in notes[-MAX_KEPT:]] for url, notes in kept.webhooks.items()}
    return json.dumps({"webhooks": hooks, "email": [n.to_dict() for n in kept.email[-MAX_KEPT:]]})


def decode(raw: str) -> Kept:
    """The inverse of `encode`; ValueError (or KeyError, TypeError, AttributeError) if unreadable."""
    data = json.loads(raw)
    return Kept(
        webhooks={
            str(url): [Notification.from_dict(n) for n in notes]
            for url, notes in dict(data.get("webhooks", {})).items()
        },
        email=[Notification.from_dict(n) for n in data.get("email", [])],
    )
