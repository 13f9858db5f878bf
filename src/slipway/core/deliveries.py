"""What became of a notification at one sink: delivered, or given up on after N attempts and why.

A webhook that has been returning 404 for a week, or an SMTP password that
expired, is otherwise silent: the rollback was "notified" and nobody heard.
Each sink's final outcome is kept (`slipway notifications`, GET
/admin/notifications) so someone can see that before it matters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

#: Longest error text kept per delivery (an SMTP reply or an exception's words).
ERROR_MAX = 500
#: Longest title kept per delivery.
TITLE_MAX = 300


class Outcome(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Delivery:
    #: The sink, named without secrets: "webhook https://hooks.example.com/…", "email smtp.example.com:587".
    sink: str
    event: str
    title: str
    outcome: Outcome
    attempts: int
    #: The last attempt's problem (None when delivered at the first try).
    error: str | None
    #: Wall-clock time of the final outcome.
    at: float

    def bounded(self) -> Delivery:
        """Within what the store keeps: a long title or error is cut, never refused."""
        error = self.error[:ERROR_MAX] if self.error is not None else None
        return Delivery(
            self.sink[:TITLE_MAX], self.event[:200], self.title[:TITLE_MAX], self.outcome,
            self.attempts, error, self.at,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return {
            "sink": self.sink,
            "event": self.event,
            "title": self.title,
            "outcome": str(self.outcome),
            "attempts": self.attempts,
            "error": self.error,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class SinkAnswer:
    """What one sink answered a test message (`slipway notify test`): "HTTP 200", "250 2.0.0 queued"."""

    sink: str
    ok: bool
    answer: str

    def to_dict(self) -> dict[str, Any]:
        return {"sink": self.sink, "ok": self.ok, "answer": self.answer}


class DeliverySink(Protocol):
    """Where a notifier reports each final outcome; never blocks and never raises."""

    def record(self, delivery: Delivery) -> None: ...


class DeliveryStore(Protocol):
    async def add_deliveries(self, deliveries: list[Delivery]) -> None: ...

    async def list_deliveries(self, limit: int) -> list[Delivery]: ...
