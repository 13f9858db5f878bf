"""Shadow runs as pure decisions: when a run ends by itself, and how one is started and ended.

A run mirrors until it has the pairs it was asked for (`--until N-pairs`:
complete) or its time is up (`--until 14d`, or the config's expiry; at most
30 days: expired); an operator may stop it, or promote its candidate. Every
ending stops the mirror; the pairs and the report stay.
"""

from __future__ import annotations

from dataclasses import replace

from slipway.core.shadow import PromoteVia, ShadowRun, ShadowStatus, ShadowUntil
from slipway.core.types import RouteTable


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


def promoted(run: ShadowRun, via: PromoteVia, now: float, *, actor: str) -> ShadowRun:
    reason = f"promoted through {via.value}" + (f" after: {run.reason}" if run.status.is_final() else "")
    return replace(
        run,
        status=ShadowStatus.PROMOTED,
        promoted_via=via,
        reason=reason,
        ended_at=run.ended_at or now,
        actor=actor,
    )
