"""The leader's reconcile of vLLM adapters: unload what slipway loaded and nothing refers to any more.

It runs when this replica becomes the leader (so at every start: a lone
process leads at once) and then every hour. Only the leader runs it, like
every other loop that acts on engines on its own: two replicas reconciling
at once would both wait out the same drains. What must stay although no
slot refers to it yet:

* a candidate a deploy is still checking (its deployment is pending or
  smoke-testing): it was loaded before it was staged in the routes, maybe
  by another replica (a deploy whose replica died is marked failed by the
  leader's interrupted-deploy sweep, and stops counting);
* a replaced slot's adapter whose retirement is pending here: the retire
  waits out the slot's read timeout and unloads it itself.

A reconcile that fails is logged and tried again (`ControlLoop`); a single
unload that fails is logged and left for the next one. Nothing here stops
slipway from starting or serving.
"""

from __future__ import annotations

import logging

from slipway.backends.vllm_reconcile import KeepRule, ReconcileReport, VllmReconciler
from slipway.core.adapter_ledger import LoadedAdapter
from slipway.core.deployments import Deployment
from slipway.core.ports import Clock, DeploymentStore
from slipway.core.types import BackendKind, RouteTable
from slipway.rollout.control_loop import ControlLoop
from slipway.rollout.controller import RouteController

log = logging.getLogger("slipway.reconcile")

#: Real seconds between two reconciles after the one at election.
RECONCILE_EVERY_S = 3600.0
#: How many of the latest deployments are read for ones still checking.
RECENT_DEPLOYMENTS = 50


class AdapterReconcileLoop(ControlLoop):
    NAME = "slipway-adapter-reconcile"

    def __init__(
        self,
        *,
        reconciler: VllmReconciler,
        routes: RouteController,
        deployments: DeploymentStore,
        clock: Clock,
    ) -> None:
        super().__init__(clock, log)
        self._reconciler = reconciler
        self._routes = routes
        self._deployments = deployments
        #: The last reconcile's report (status and tests read it).
        self.last: ReconcileReport | None = None

    async def _wake_once(self) -> float | None:
        self.last = await self.reconcile_now()
        return self.clock.now() + RECONCILE_EVERY_S * self.clock.scale

    async def reconcile_now(self) -> ReconcileReport:
        report = await self._reconciler.reconcile(self._table_now, self._keep_rule)
        if report.unloaded or report.failed or report.plan.kept:
            log.info("vLLM adapter reconcile: %s", report.describe())
        else:
            log.debug("vLLM adapter reconcile: nothing to unload")
        return report

    async def _table_now(self) -> RouteTable:
        """The table the store holds now: another replica may have staged a slot this one has not heard of."""
        await self._routes.catch_up()
        return self._routes.table

    async def _keep_rule(self) -> KeepRule:
        """What must stay now: read after the ledger and before the table (see `VllmReconciler.reconcile`)."""
        checking = [
            d
            for d in await self._deployments.list_deployments(RECENT_DEPLOYMENTS)
            # As long as it checks, however long: one whose replica died is marked failed by the
            # interrupted-deploy sweep (app.interrupted_deploys), and its adapter goes at the next run.
            if d.status.is_checking()
        ]
        retiring = {
            (s.endpoint, s.backend_model): s.name
            for s in self._routes.retiring()
            if s.kind is BackendKind.VLLM
        }
        return lambda entry: keep_reason(entry, checking, retiring)


def keep_reason(
    entry: LoadedAdapter, checking: list[Deployment], retiring: dict[tuple[str, str], str]
) -> str | None:
    """Why `entry` must stay though no slot refers to it (a deploy checking it, a pending retire), or None."""
    for dep in checking:
        if dep.version == entry.version and dep.detail.get("endpoint") == entry.endpoint:
            return f"deploy {dep.id} of {dep.version} is still checking it ({dep.status})"
    slot = retiring.get(entry.key)
    if slot is not None:
        return f"replaced slot {slot!r} unloads it once its drain is over"
    return None
