"""What slipway tells people: one `Notification` per event worth a message (phases, verdicts, route changes).

Notifiers (webhook, log) turn it into their own format; the metric table
travels as `MetricRow`s so a Slack message and a log line show the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from slipway.core.canary import MetricRow


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Notification:
    #: What happened, as a stable short name: canary.started, canary.phase, canary.halted, ...
    event: str
    #: One line a person reads first.
    title: str
    severity: Severity = Severity.INFO
    #: A few more lines: why, what was done, what to do.
    text: str = ""
    metrics: tuple[MetricRow, ...] = ()
    #: Context as key/value pairs (deployment, version, phase, weight), shown as fields.
    facts: Mapping[str, str] = field(default_factory=dict)
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "title": self.title,
            "severity": str(self.severity),
            "text": self.text,
            "metrics": [m.to_dict() for m in self.metrics],
            "facts": dict(self.facts),
            "at": self.at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        """The inverse of `to_dict` (notifications kept in the store across a restart)."""
        return cls(
            event=str(data["event"]),
            title=str(data["title"]),
            severity=Severity(data.get("severity", Severity.INFO)),
            text=str(data.get("text", "")),
            metrics=tuple(MetricRow.from_dict(m) for m in data.get("metrics", ())),
            facts={str(k): str(v) for k, v in dict(data.get("facts", {})).items()},
            at=float(data.get("at", 0.0)),
        )
