"""The pre-deployment checklist's shape: ten items, each an outcome with its evidence, and waivers.

The source article's checklist ("skip none of these: the one you skip is
the one that burns you") is only worth something when each item is shown
by evidence rather than ticked as a promise. This module holds what an item's
result is and how waivers and the required set turn ten results into one
verdict; `checklist_items` judges each item from its evidence, and the app
layer gathers that evidence. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from slipway.core.errors import ValidationError
from slipway.core.lifecycle import ChecklistRecord
from slipway.core.names import check_text
from slipway.core.types import RouteTable


class ItemStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    #: Failed, and an operator accepted that with a reason.
    WAIVED = "waived"
    #: Does not apply to this deployment (the result says why).
    NA = "n/a"


#: The ten items, in the article's order, by the names operators type (`--waive drill`).
ITEMS: tuple[str, ...] = (
    "evaluation",
    "regression",
    "latency",
    "model_file",
    "previous_version",
    "drill",
    "monitoring",
    "canary_plan",
    "owner",
    "announced",
)

#: What each item asks, in the article's words, shown beside its outcome.
TITLES: Mapping[str, str] = {
    "evaluation": "evaluation suites pass their gates against production",
    "regression": "regression cases pass 100%",
    "latency": "latency against production within bounds",
    "model_file": "model file validated and loadable",
    "previous_version": "previous version identified and answering",
    "drill": "rollback drill done recently",
    "monitoring": "monitoring and alerting configured and tested",
    "canary_plan": "canary phases defined and fit the traffic",
    "owner": "on-call owner named or automated rollback configured",
    "announced": "stakeholders told of the deployment window",
}

#: Longest waiver reason kept.
REASON_MAX = 1_000


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item's outcome: what was found (evidence, in words), how old that evidence is, and the fix."""

    item: str
    status: ItemStatus
    evidence: str
    #: What to do about a failure, as a command or config change where there is one.
    fix: str | None = None
    #: Seconds since the evidence was made (0 for something measured now; None when there is none).
    age_s: float | None = None
    required: bool = False
    #: The operator's reason, for a waived item.
    waiver: str | None = None

    @property
    def blocks(self) -> bool:
        """A failed required item refuses the deploy."""
        return self.required and self.status is ItemStatus.FAIL

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "title": TITLES.get(self.item, self.item),
            "status": str(self.status),
            "evidence": self.evidence,
            "fix": self.fix,
            "age_s": self.age_s,
            "required": self.required,
            "waiver": self.waiver,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ItemResult:
        return cls(
            item=str(data.get("item", "")),
            status=ItemStatus(str(data.get("status", "fail"))),
            evidence=str(data.get("evidence", "")),
            fix=data.get("fix"),
            age_s=data.get("age_s"),
            required=bool(data.get("required", False)),
            waiver=data.get("waiver"),
        )


def parse_waivers(items: Sequence[str], reasons: Sequence[str]) -> dict[str, str]:
    """`--waive ITEM --reason "..."` pairs, checked: known items, each with its own non-empty reason.

    One reason given for several waivers applies to all of them; a waiver
    without any reason is refused, since the reason is what the record keeps.
    """
    if not items and not reasons:
        return {}
    if items and not reasons:
        raise ValidationError(
            f"a waiver needs a reason: --waive {items[0]} was given without --reason",
            hint=f'say why, e.g. --waive {items[0]} --reason "drill scheduled for Monday; on-call watching"',
        )
    if reasons and not items:
        raise ValidationError("--reason was given without --waive", hint="name the item: --waive ITEM")
    if len(reasons) not in (1, len(items)):
        raise ValidationError(
            f"{len(items)} waivers and {len(reasons)} reasons",
            hint="give one --reason for all the waivers, or one after each --waive",
        )
    out: dict[str, str] = {}
    for i, item in enumerate(items):
        if item not in ITEMS:
            raise ValidationError(
                f"there is no checklist item {item[:60]!r}", hint=f"the items are: {', '.join(ITEMS)}"
            )
        reason = (reasons[0] if len(reasons) == 1 else reasons[i]).strip()
        try:
            check_text(reason, "waiver reason")
        except ValueError as exc:
            raise ValidationError(str(exc), hint="one line of at most 1,000 characters") from None
        if not reason:
            raise ValidationError(f"the reason for waiving {item} is empty", hint="say why it is waived")
        out[item] = reason
    return out


def settle(
    results: Iterable[ItemResult], required: Iterable[str], waivers: Mapping[str, str]
) -> list[ItemResult]:
    """Mark the required items, and turn each failed item an operator waived into `waived`.

    A waiver of an item that did not fail changes nothing: the evidence
    stands, and the record does not claim a waiver that was not needed.
    """
    needed = set(required)
    out = []
    for result in results:
        result = replace(result, required=result.item in needed)
        reason = waivers.get(result.item)
        if reason is not None and result.status is ItemStatus.FAIL:
            result = replace(result, status=ItemStatus.WAIVED, waiver=reason)
        out.append(result)
    return out


def passed(results: Iterable[ItemResult]) -> bool:
    """No required item failed (waived, n/a and not-required failures let the deploy go on)."""
    return not any(r.blocks for r in results)


def refusal_words(results: Sequence[ItemResult]) -> str:
    """Each blocking item with its evidence and fix, one per line, for the error a refused deploy gets."""
    lines = []
    for r in results:
        if r.blocks:
            fix = f" Fix: {r.fix}" if r.fix else ""
            lines.append(f"{r.item} ({TITLES.get(r.item, r.item)}): {r.evidence}.{fix}")
    return "\n".join(lines)


def waiver_words(results: Sequence[ItemResult]) -> str | None:
    """The waivers, in words for the route history and the notification; None without any."""
    waived = [f"{r.item} waived ({r.waiver})" for r in results if r.status is ItemStatus.WAIVED]
    return "; ".join(waived) if waived else None


def summary_words(results: Sequence[ItemResult]) -> str:
    """E.g. "7 pass, 1 waived, 1 n/a, 1 failed (not required: drill)"."""
    counts = {s: sum(1 for r in results if r.status is s) for s in ItemStatus}
    parts = [f"{counts[ItemStatus.PASS]} pass"]
    if counts[ItemStatus.WAIVED]:
        parts.append(f"{counts[ItemStatus.WAIVED]} waived")
    if counts[ItemStatus.NA]:
        parts.append(f"{counts[ItemStatus.NA]} n/a")
    blocking = [r.item for r in results if r.blocks]
    loose = [r.item for r in results if r.status is ItemStatus.FAIL and not r.required]
    if blocking:
        parts.append(f"{len(blocking)} failed ({', '.join(blocking)})")
    if loose:
        parts.append(f"{len(loose)} failed, not required ({', '.join(loose)})")
    return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class ChecklistAsk:
    """One checklist as asked for: which version in which slot, rolled out how, by whom."""

    version: str
    slot: str
    actor: str
    strategy: str = "bluegreen"
    steps: str | None = None
    interval: str | None = None
    owner: str | None = None
    waivers: dict[str, str] = field(default_factory=dict)
    #: Requests to replay for latency when production's recent bodies were not kept (smoke cases).
    fallback_requests: Sequence[dict[str, Any]] = ()
    deployment_id: str | None = None
    #: Send the `deploy.announced` notification first (item 10 then reads its delivery).
    announce: bool = False
    window: str | None = None


def checklist_summary(record: ChecklistRecord) -> dict[str, Any]:
    """What a deployment, status and a notification carry of a checklist: the verdict and each item."""
    items = [ItemResult.from_dict(i) for i in record.items]
    return {
        "id": record.id,
        "at": record.at,
        "version": record.version,
        "slot": record.slot,
        "passed": record.passed,
        "summary": summary_words(items),
        "waivers": waiver_words(items),
        "items": [dict(i) for i in record.items],
    }


def checklist_slot(table: RouteTable, version: str, slot: str | None) -> str:
    """The slot a checklist looks at: `slot`, else the one slot whose version is `version`."""
    if slot is not None:
        if slot not in table.slots:
            raise ValidationError(
                f"there is no slot {slot!r} (slots: {', '.join(sorted(table.slots))})",
                hint="stage the version first: slipway deploy VERSION --no-switch",
            )
        return slot
    holding = [s.name for s in table.slots.values() if version in (s.version_label, s.model, s.version)]
    standby = [name for name in holding if name != table.active]
    if len(standby) == 1:
        return standby[0]
    if len(holding) == 1:
        return holding[0]
    where = ", ".join(f"{s.name}: {s.version_label}" for s in table.slots.values())
    raise ValidationError(
        f"{'several slots hold' if holding else 'no slot holds'} {version!r} ({where})",
        hint="name the slot: --slot SLOT (stage a new version with slipway deploy VERSION --no-switch)",
    )


def deployment_note(detail: Mapping[str, Any]) -> str | None:
    """The checklist a deployment passed, in words for its route change and notification; None if none ran."""
    checklist = detail.get("checklist")
    if not isinstance(checklist, Mapping):
        return None
    words = f"checklist {'passed' if checklist.get('passed') else 'failed'} ({checklist.get('summary')})"
    waivers = checklist.get("waivers")
    return f"{words}; {waivers}" if isinstance(waivers, str) and waivers else words
