"""Shadow runs as pure decisions: when a run ends by itself, and how one is started and ended.

A run mirrors until it has the pairs it was asked for (`--until N-pairs`:
complete) or its time is up (`--until 14d`, or the config's expiry; at most
30 days: expired); an operator may stop it, or promote its candidate. Every
ending stops the mirror; the pairs and the report stay.

Promotion follows the report: only a "go" promotes as asked. Over "no-go"
or "not yet" it is refused with the report's reasons, unless the operator
forces it and says why; a forced promotion carries that override with it
into the run, the route history and the notification.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from slipway.core.errors import ConfigError, TransitionError
from slipway.core.shadow import GO, ForcedPromotion, PromoteVia, ShadowRun, ShadowStatus, ShadowUntil
from slipway.core.types import RouteTable

#: How many of the report's reasons a refusal quotes; the rest are in `slipway shadow report`.
REASONS_SHOWN = 5
FORCE_HINT = 'add --force --reason "..." to promote anyway'
HANDING_OVER = "promoting through"


def start(
    *,
    deployment_id: str,
    version: str,
    production: str,
    candidate: str,
    sample_bp: int,
    until: ShadowUntil,
    actor: str,
    now: float,
) -> ShadowRun:
    return ShadowRun(
        deployment_id=deployment_id,
        version=version,
        production=production,
        candidate=candidate,
        sample_bp=sample_bp,
        started_at=now,
        expires_at=now + until.seconds,
        until_pairs=until.pairs,
        actor=actor,
    )


def due_end(run: ShadowRun, pairs: int, table: RouteTable, now: float) -> tuple[ShadowStatus, str] | None:
    """Why a running shadow ends now by itself, or None while it should go on."""
    if run.status.is_final():
        return None
    if table.mirror != run.candidate or table.mirror_run != run.deployment_id:
        return ShadowStatus.STOPPED, "the route table no longer mirrors to the candidate (changed by hand)"
    if run.until_pairs is not None and pairs >= run.until_pairs:
        return ShadowStatus.COMPLETE, f"collected {pairs} pairs (asked for {run.until_pairs})"
    if now >= run.expires_at:
        days = (run.expires_at - run.started_at) / 86_400
        return ShadowStatus.EXPIRED, f"ran for its {days:g} days with {pairs} pairs; mirroring stopped"
    return None


def end(
    run: ShadowRun, status: ShadowStatus, reason: str, now: float, *, actor: str = "slipway"
) -> ShadowRun:
    return replace(run, status=status, reason=reason, ended_at=now, actor=actor)


def check_force(force: bool, why: str | None) -> str:
    """The reason for forcing, stripped; a force without one is refused before anything is read.

    An override nobody can explain later is the thing this rule exists to prevent.
    """
    text = (why or "").strip()
    if force and not text:
        raise ConfigError(
            "--force needs a reason: it is recorded with the promotion",
            hint='add --reason "why the report\'s verdict is overridden"',
            field="reason",
        )
    return text


def _reasons_text(reasons: Sequence[str]) -> str:
    shown = "; ".join(reasons[:REASONS_SHOWN]) or "no reasons given"
    more = len(reasons) - REASONS_SHOWN
    return shown + (f"; and {more} more (see slipway shadow report)" if more > 0 else "")


def promotion_gate(
    run: ShadowRun, decision: str, reasons: Sequence[str], *, force: bool, why: str, actor: str
) -> ForcedPromotion | None:
    """None when the report says go; the override to record when forced past another verdict; else refuse.

    The verdict is the report's (`GET /admin/shadow/report`) over the same
    pairs, so the refusal names exactly what the operator would read there.
    """
    if decision == GO:
        return None
    if not force:
        raise TransitionError(
            f"the shadow report's verdict on {run.version} is {decision.upper()}, so it was not promoted: "
            f"{_reasons_text(reasons)}",
            hint=f"read slipway shadow report; {FORCE_HINT}",
        )
    return ForcedPromotion(verdict=decision, reasons=tuple(reasons), why=why, actor=actor)


def handing_over(via: PromoteVia, forced: ForcedPromotion | None) -> str:
    """Why the mirror stops for a promotion (the run's reason and the route history say it)."""
    return f"{HANDING_OVER} {via.value}" + (f", {forced.words()}" if forced else "")


def promoted(
    run: ShadowRun, via: PromoteVia, now: float, *, actor: str, forced: ForcedPromotion | None = None
) -> ShadowRun:
    reason = f"promoted through {via.value}" + (f", {forced.words()}" if forced else "")
    # A run that ended by itself says how (its pairs, its time); the hand-over's own stop says nothing new.
    if run.status.is_final() and not run.reason.startswith(HANDING_OVER):
        reason += f" after: {run.reason}"
    return replace(
        run,
        status=ShadowStatus.PROMOTED,
        promoted_via=via,
        reason=reason,
        ended_at=run.ended_at or now,
        actor=actor,
        forced=forced,
    )
