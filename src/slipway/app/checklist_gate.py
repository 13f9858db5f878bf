"""The checklist as the gate of every deploy: run once the candidate is staged, before traffic moves.

A failed required item refuses the deploy with every failed item and its
fix; an item the operator waived (`--waive ITEM --reason "..."`) lets it go
on, and the waiver is kept in the checklist record, the deployment's detail
and the switch's reason in the route history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slipway.app.checklist import ChecklistRunner
from slipway.core.checklist import ChecklistAsk, ItemResult, checklist_summary, refusal_words
from slipway.core.checklist_config import ChecklistConfig
from slipway.core.deployments import Deployment, Strategy
from slipway.core.errors import ChecklistFailed
from slipway.core.lifecycle import ChecklistRecord
from slipway.rollout.operator import DeployOrder

#: Longest checklist note added to the switch's reason (the full record is kept apart).
NOTE_MAX = 600


class ChecklistGate:
    """`rollout.operator.DeployChecklist`, backed by the checklist runner and the `checklist:` config."""

    def __init__(
        self,
        runner: ChecklistRunner,
        config: Callable[[], ChecklistConfig],
        latest: Callable[[str], Awaitable[list[ChecklistRecord]]],
    ) -> None:
        self._runner = runner
        self._config = config
        #: The checklists of a version, newest first.
        self._latest = latest

    async def before_switch(self, version: str, slot: str) -> None:
        """Refuse `slipway switch` to a staged version whose latest checklist there failed.

        A version staged with `deploy --no-switch` had its checklist recorded but
        not enforced (no traffic moved); the switch is where traffic moves, so it
        is enforced here. A later `slipway checklist` that passes (fixed, or with
        waivers) clears it; a version never checked (staged before the checklist
        existed) and a switch back to a slot that served before are not held.
        """
        if not self._config().on_deploy:
            return
        mine = [r for r in await self._latest(version) if r.slot == slot]
        if not mine or mine[0].passed:
            return
        items = [ItemResult.from_dict(i) for i in mine[0].items]
        raise ChecklistFailed(
            f"the latest pre-deployment checklist of {version} in {slot} failed; no traffic moved:\n"
            f"{refusal_words(items)}",
            checklist=checklist_summary(mine[0]),
            hint=f"fix each item and run `slipway checklist {version} --slot {slot}` again (add "
            '--waive ITEM --reason "…" to accept one), then switch',
        )

    async def before_traffic(self, dep: Deployment, order: DeployOrder, *, actor: str) -> str | None:
        if not self._config().on_deploy:
            dep.detail["checklist"] = "not run (checklist.on_deploy is false)"
            return None
        ask = ChecklistAsk(
            version=dep.version,
            slot=dep.slot,
            actor=actor,
            # The strategy traffic moves by: a shadow promoted through blue-green is judged as a switch.
            strategy=str(order.strategy),
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
        if not record.passed and not order.switch and order.strategy is Strategy.BLUEGREEN:
            # Staging alone (--no-switch) moves no traffic: the record says what `switch` would go past.
            dep.detail["checklist_note"] = (
                "the checklist failed; staged only, so nothing was refused, but `slipway switch` is refused "
                f"until `slipway checklist {dep.version} --slot {dep.slot}` passes"
            )
            return None
        if not record.passed:
            items = [ItemResult.from_dict(i) for i in record.items]
            failed = refusal_words(items)
            raise ChecklistFailed(
                f"the pre-deployment checklist refused {dep.version}; no traffic moved:\n{failed}",
                checklist=summary,
                hint=f'fix each item above and {order.retry} again, or waive it: --waive ITEM --reason "…"',
            )
        words = f"checklist passed ({summary['summary']})"
        waivers = summary.get("waivers")
        if isinstance(waivers, str):
            words = f"{words}; {waivers}"
        return words if len(words) <= NOTE_MAX else words[: NOTE_MAX - 1] + "…"
