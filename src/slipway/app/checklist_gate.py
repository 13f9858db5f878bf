"""The checklist as the gate of every deploy: run once the candidate is staged, before traffic moves.

A failed required item refuses the deploy with every failed item and its
fix; an item the operator waived (`--waive ITEM --reason "..."`) lets it go
on, and the waiver is kept in the checklist record, the deployment's detail
and the switch's reason in the route history.
"""

from __future__ import annotations

from collections.abc import Callable

from slipway.app.checklist import ChecklistRunner
from slipway.core.checklist import ChecklistAsk, ItemResult, checklist_summary, refusal_words
from slipway.core.checklist_config import ChecklistConfig
from slipway.core.deployments import Deployment, Strategy
from slipway.core.errors import ChecklistFailed
from slipway.rollout.operator import DeployOrder

#: Longest checklist note added to the switch's reason (the full record is kept apart).
NOTE_MAX = 600


class ChecklistGate:
    """`rollout.operator.DeployChecklist`, backed by the checklist runner and the `checklist:` config."""

    def __init__(self, runner: ChecklistRunner, config: Callable[[], ChecklistConfig]) -> None:
        self._runner = runner
        self._config = config

    async def before_traffic(self, dep: Deployment, order: DeployOrder, *, actor: str) -> str | None:
        if not self._config().on_deploy:
            dep.detail["checklist"] = "not run (checklist.on_deploy is false)"
            return None
        ask = ChecklistAsk(
            version=dep.version,
            slot=dep.slot,
            actor=actor,
            strategy=str(dep.strategy),
            steps=order.steps,
            interval=order.interval,
            owner=order.owner,
            waivers=dict(order.waivers),
            fallback_requests=[case.to_openai_request("") for case in order.smoke_cases or []],
            deployment_id=dep.id,
        )
        record = await self._runner.run(ask)
        summary = checklist_summary(record)
        dep.detail["checklist"] = summary
        if not record.passed and not order.switch and dep.strategy is Strategy.BLUEGREEN:
            # Staging alone (--no-switch) moves no traffic: the record says what `switch` would go past.
            dep.detail["checklist_note"] = "not passed; staged only, so nothing was refused"
            return None
        if not record.passed:
            items = [ItemResult.from_dict(i) for i in record.items]
            failed = refusal_words(items)
            raise ChecklistFailed(
                f"the pre-deployment checklist refused {dep.version}; no traffic moved:\n{failed}",
                checklist=summary,
                hint='fix each item above and deploy again, or waive it: --waive ITEM --reason "…"',
            )
        words = f"checklist passed ({summary['summary']})"
        waivers = summary.get("waivers")
        if isinstance(waivers, str):
            words = f"{words}; {waivers}"
        return words if len(words) <= NOTE_MAX else words[: NOTE_MAX - 1] + "…"
