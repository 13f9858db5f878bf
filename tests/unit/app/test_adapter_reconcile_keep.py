"""What a reconcile keeps although no slot refers to it: a candidate still being checked, a pending retire."""

from __future__ import annotations

from slipway.app.adapter_reconcile import keep_reason
from slipway.core.adapter_ledger import LoadedAdapter
from slipway.core.deployments import Deployment, DeploymentStatus, Strategy

A = "http://127.0.0.1:8000"


def entry(version: str = "v2.2", endpoint: str = A) -> LoadedAdapter:
    return LoadedAdapter(endpoint=endpoint, name=f"cs-{version}", path="/a", version=version, at=1.0)


def checking(version: str = "v2.2", endpoint: str = A) -> Deployment:
    return Deployment(
        id="d1",
        version=version,
        strategy=Strategy.BLUEGREEN,
        slot="green",
        status=DeploymentStatus.SMOKE_TESTING,
        created_at=1.0,
        updated_at=1.0,
        actor="ops",
        detail={"endpoint": endpoint},
    )


def test_a_deploy_checking_that_version_on_that_server_keeps_it() -> None:
    why = keep_reason(entry(), [checking()], {})
    assert why is not None and "d1" in why and "v2.2" in why


def test_a_deploy_of_another_version_or_on_another_server_does_not() -> None:
    assert keep_reason(entry(), [checking("v2.3")], {}) is None
    assert keep_reason(entry(), [checking(endpoint="http://127.0.0.1:9000")], {}) is None


def test_a_replaced_slot_waiting_out_its_drain_keeps_it() -> None:
    why = keep_reason(entry(), [], {(A, "cs-v2.2"): "green"})
    assert why is not None and "'green'" in why
    assert keep_reason(entry(), [], {(A, "cs-v2.1"): "green"}) is None
