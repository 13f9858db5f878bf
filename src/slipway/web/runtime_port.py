"""What the admin API needs from the process it runs in, as Protocols.

The web layer names what it calls rather than importing the composition root
that builds it: `slipway.app` imports `slipway.web`, never the other way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from slipway.core.checklist import ChecklistAsk
from slipway.core.deliveries import Delivery, SinkAnswer
from slipway.core.deployments import Deployment
from slipway.core.lifecycle import (
    ChecklistRecord,
    DrillRecord,
    EvalPlan,
    EvalProgress,
    EvalRunRecord,
    SuiteVersion,
)
from slipway.core.notifications import Notification
from slipway.core.types import RouteChange
from slipway.gateway.metrics import TrafficMetrics
from slipway.rollout.canary_controller import CanaryController
from slipway.rollout.drill import DrillOrder
from slipway.rollout.operator import RolloutOperator
from slipway.web.status import Status


class ShadowOps(Protocol):
    """Shadow mode as wired by the composition root: reports over stored pairs."""

    async def status(self, deployment_id: str | None = None) -> dict[str, Any]: ...

    async def report(self, fmt: str = "json", deployment_id: str | None = None) -> tuple[str, str]: ...

    async def export(
        self, n: int, fmt: str = "jsonl", deployment_id: str | None = None, seed: int = 0
    ) -> tuple[str, str]: ...


class PostmortemOps(Protocol):
    """Post-rollback analysis and the regression cases it feeds, as wired by the composition root."""

    async def report(self, deployment_id: str | None, fmt: str = "json") -> tuple[str, str]: ...

    async def set_retry(self, deployment_id: str, at: str, *, actor: str) -> dict[str, Any]: ...

    async def add_regressions(
        self, deployment_id: str, *, suite: str = ..., redact: Sequence[str] = (), actor: str
    ) -> dict[str, Any]: ...

    async def export_regressions(
        self, deployment_id: str, *, fmt: str, redact: Sequence[str] = ()
    ) -> str: ...


class EvaluationOps(Protocol):
    """Evaluation suites as wired by the composition root: stored versions and their runs."""

    async def add_suite_text(
        self, name: str, text: str, *, source: str, rule: dict[str, Any] | None, note: str, actor: str
    ) -> SuiteVersion: ...

    async def suites(self) -> list[SuiteVersion]: ...

    async def suite(self, name: str, version: int | None = None) -> SuiteVersion: ...

    async def plan(
        self,
        suite: str | None,
        *,
        slot: str,
        against: str | None,
        actor: str,
        deployment_id: str | None = None,
    ) -> EvalPlan: ...

    async def execute(
        self, plan: EvalPlan, progress: Callable[[EvalProgress], None] | None = None
    ) -> list[EvalRunRecord]: ...

    async def runs(self, *, suite: str | None = None, limit: int = 20) -> list[EvalRunRecord]: ...

    async def get_run(self, run_id: str) -> EvalRunRecord: ...


class AdminRuntime(Protocol):
    @property
    def operator(self) -> RolloutOperator:
        """Every change to a rollout: deploy, rollback, switch, canary and shadow commands."""
        ...

    @property
    def canary(self) -> CanaryController: ...

    @property
    def evaluations(self) -> EvaluationOps: ...

    @property
    def shadow(self) -> ShadowOps: ...

    @property
    def postmortem(self) -> PostmortemOps: ...

    async def status(self) -> Status: ...

    async def readiness(self) -> list[str]: ...

    @property
    def traffic(self) -> TrafficMetrics | None: ...

    async def history(self, limit: int) -> list[RouteChange]: ...

    async def notifications(self, limit: int) -> list[Delivery]: ...

    async def notify_test(self, actor: str) -> list[SinkAnswer]: ...

    async def daily_summary(self, send: bool) -> Notification: ...

    async def deployments(self, limit: int) -> list[Deployment]: ...

    async def reload(self, actor: str, force: bool = False) -> dict[str, Any]: ...

    def export_config(self) -> str: ...

    async def request(self, request_id: str) -> dict[str, Any]: ...

    async def checklist(self, ask: ChecklistAsk, *, slot: str | None) -> ChecklistRecord:
        """Run the pre-deployment checklist for `ask.version` in `slot` (None: the slot that holds it)."""
        ...

    async def checklists(self, version: str | None, limit: int) -> list[ChecklistRecord]: ...
    async def drill(self, order: DrillOrder, actor: str) -> DrillRecord:
        """Rehearse a rollback now (the leader runs it); the drill's record, passed or failed."""
        ...

    async def list_drills(self, limit: int) -> list[DrillRecord]: ...
