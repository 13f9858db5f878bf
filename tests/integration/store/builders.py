"""Small factories for store tests: valid domain values with every field set."""

from __future__ import annotations

from slipway.core.deployments import Deployment, DeploymentStatus, Strategy
from slipway.core.records import RequestRecord
from slipway.core.types import BackendKind, RouteChange, RouteChangeKind, RouteTable, Slot

T0 = 1_700_000_000.0


def blue_green(*, active: str = "blue", weights: dict[str, int] | None = None) -> RouteTable:
    return RouteTable(
        version=0,
        slots={
            "blue": Slot(name="blue", endpoint="http://127.0.0.1:8081", model="llama-3-8b"),
            "green": Slot(
                name="green",
                endpoint="http://127.0.0.1:8082/v1",
                model="llama-3-8b",
                kind=BackendKind.LLAMACPP,
                upstream_model="llama-3-8b-instruct.Q4_K_M",
                adapter="support-v7",
                api_key_env="GREEN_KEY",
                connect_timeout_s=2.5,
                read_timeout_s=0.1,
                version="support-v7+r2",
            ),
        },
        active=active,
        weights=weights or {},
        previous_active="green" if active == "blue" else "blue",
    )


def change(
    to_active: str = "blue",
    *,
    at: float = T0,
    kind: RouteChangeKind = RouteChangeKind.SWITCH,
    actor: str = "alice",
    to_weights: dict[str, int] | None = None,
) -> RouteChange:
    return RouteChange(
        version=0,
        at=at,
        kind=kind,
        from_active="green" if to_active == "blue" else "blue",
        to_active=to_active,
        actor=actor,
        reason=f"{actor} moved traffic to {to_active} — ünïcode ok",
        from_weights={},
        to_weights=to_weights or {},
    )


def record(
    i: int, *, slot: str = "blue", started_at: float | None = None, status: int = 200
) -> RequestRecord:
    return RequestRecord(
        request_id=f"req-{i:08d}",
        started_at=T0 + i * 0.001 if started_at is None else started_at,
        slot=slot,
        version="llama-3-8b+support-v7",
        api="openai.chat",
        stream=i % 2 == 0,
        route_version=3,
        category="billing" if i % 3 == 0 else None,
        sticky_key=f"user-{i % 97}" if i % 5 else None,
        status=status,
        error=None,
        latency_ms=123.25 + i,
        ttft_ms=15.5 if i % 2 == 0 else None,
        output_chars=400 + i,
        output_tokens=100 + i if i % 4 else None,
        output_head=f"Bonjour, voilà la réponse n°{i} 🚀",
        aborted=i % 7 == 0,
    )


def deployment(
    deployment_id: str = "dep-1",
    *,
    created_at: float = T0,
    status: DeploymentStatus = DeploymentStatus.PENDING,
) -> Deployment:
    return Deployment(
        id=deployment_id,
        version="llama-3-8b+support-v8",
        strategy=Strategy.CANARY,
        slot="green",
        status=status,
        created_at=created_at,
        updated_at=created_at,
        actor="alice",
        previous_slot="blue",
        detail={"steps": [100, 500, 2500], "smoke": {"passed": 18, "failed": 0}, "note": None},
    )
