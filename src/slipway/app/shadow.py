"""Shadow mode, wired: the gateway's mirror and pair writer, the controller, the report and promotion.

Part of the composition root (`app.runtime` builds one per process): it joins
the gateway's mirror to the store, reads the `shadow:` section of the config
each time it is needed (a reload changes limits and the comparison rules at
once), and turns stored pairs into reports and review exports through the
pure `analysis.shadow` package.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from slipway.analysis.shadow import (
    adequacy_for,
    build_report,
    compare_pairs,
    report_to_csv,
    report_to_json,
    sample_for_review,
    to_csv,
    to_jsonl,
)
from slipway.backends.llm_judge import LlmJudge, judge_many
from slipway.core.errors import ConfigError, NotFoundError
from slipway.core.ports import Clock, Notifier
from slipway.core.shadow import Preference, ShadowPair, ShadowRun
from slipway.core.shadow_config import ShadowConfig
from slipway.gateway.batch_writer import BatchWriter
from slipway.gateway.mirror import Mirror
from slipway.gateway.proxy import Proxy
from slipway.rollout.controller import RouteController
from slipway.rollout.deployment_book import DeploymentBook
from slipway.rollout.shadow_controller import ShadowController
from slipway.store.database import Store
from slipway.web.reports.shadow_html import render_html

REPORT_FORMATS = ("json", "html", "csv")
EXPORT_FORMATS = ("jsonl", "csv")


class ShadowService:
    def __init__(
        self,
        *,
        store: Store,
        routes: RouteController,
        deployments: DeploymentBook,
        notifier: Notifier,
        clock: Clock,
        proxy: Proxy,
        config: Callable[[], ShadowConfig],
    ) -> None:
        self._store = store
        self._routes = routes
        self._config = config
        cfg = config()
        self.pairs: BatchWriter[ShadowPair] = BatchWriter(
            store.write_pairs, what="shadow pairs", max_queue=10_000, batch_size=500
        )
        self.mirror = Mirror(
            session=lambda: proxy.session,
            pairs=self.pairs,
            resolve_engine=proxy.resolve_engine,
            concurrency=cfg.mirror.concurrency,
            queue=cfg.mirror.queue,
            timeout_s=cfg.mirror.timeout_s,
        )
        proxy.mirror = self.mirror
        self.controller = ShadowController(
            store=store,
            routes=routes,
            deployments=deployments,
            notifier=notifier,
            clock=clock,
            config=config,
            before_count=self.pairs.flush,
        )

    def start(self) -> None:
        """The mirror and its pair writer; the controller's loop runs only on the leader (`app.replica`)."""
        self.pairs.start()
        self.mirror.start()

    async def stop(self) -> None:
        await self.mirror.close()

    async def close_writer(self) -> None:
        """After the gateway has stopped: write the pairs still queued."""
        await self.pairs.close()

    def configure(self) -> None:
        cfg = self._config().mirror
        self.mirror.configure(concurrency=cfg.concurrency, queue=cfg.queue, timeout_s=cfg.timeout_s)

    # -- reading ---------------------------------------------------------------------------

    async def _run(self, deployment_id: str | None) -> ShadowRun:
        run = (
            await self._store.get_shadow(deployment_id)
            if deployment_id
            else await self._store.latest_shadow()
        )
        if run is None:
            what = f"shadow run {deployment_id!r}" if deployment_id else "shadow run"
            raise NotFoundError(
                f"there is no {what}", hint="start one with slipway deploy VERSION --strategy shadow"
            )
        return run

    async def status(self, deployment_id: str | None = None) -> dict[str, Any]:
        run = await self._run(deployment_id) if deployment_id else await self._store.latest_shadow()
        stats = self.mirror.stats
        mirror = {
            **asdict(stats),
            "queued": self.mirror.queued,
            "in_flight": self.mirror.in_flight,
            "pairs_pending": self.pairs.pending,
            "pairs_dropped": self.pairs.stats.dropped,
        }
        if run is None:
            return {"shadow": None, "pairs": 0, "by_category": {}, "adequacy": [], "mirror": mirror}

        await self.pairs.flush()
        pairs = await self._store.read_pairs(run.deployment_id)
        cfg = self._config()
        counts: dict[str, int] = {}
        for pair in pairs:
            key = pair.category or "uncategorized"
            counts[key] = counts.get(key, 0) + 1
        now = self.controller.clock.now()
        return {
            "shadow": {
                **run.to_dict(),
                "left_s": max(0.0, run.expires_at - now) if not run.status.is_final() else 0.0,
            },
            "pairs": len(pairs),
            "by_category": counts,
            "adequacy": [a.to_dict() for a in adequacy_for(pairs, cfg.decision, checks=cfg.checks)],
            "mirror": mirror,
        }

    async def _pairs_and_preferences(
        self, run: ShadowRun, cfg: ShadowConfig
    ) -> tuple[list[ShadowPair], dict[str, Preference]]:

        await self.pairs.flush()
        pairs = await self._store.read_pairs(run.deployment_id)
        preferences: dict[str, Preference] = {}
        if "judge" in cfg.scorers:
            if cfg.judge is None:
                raise ConfigError(
                    "the `judge` scorer is listed but no judge is configured",
                    hint="add shadow.judge: {endpoint, model}, or drop `judge` from shadow.scorers",
                    field="shadow.judge",
                )
            outcomes = compare_pairs(pairs, cfg)
            chosen = sample_for_review(pairs, outcomes, cfg.judge.max_pairs, seed=0)
            by_id = {p.pair_id: p for p in pairs}
            items = [
                (row["pair_id"], by_id[row["pair_id"]].input_text, by_id[row["pair_id"]].production.text,
                 by_id[row["pair_id"]].candidate.text)
                for row in chosen
                if by_id[row["pair_id"]].production.ok and by_id[row["pair_id"]].candidate.ok
            ]  # fmt: skip
            async with LlmJudge(cfg.judge) as judge:
                preferences = await judge_many(judge, items)
        return pairs, preferences

    async def report(self, fmt: str = "json", deployment_id: str | None = None) -> tuple[str, str]:
        """(body, media type) of the comparison report in `fmt`."""
        if fmt not in REPORT_FORMATS:
            raise ConfigError(
                f"unknown report format {fmt!r}", hint=f"use one of: {', '.join(REPORT_FORMATS)}"
            )

        run = await self._run(deployment_id)
        cfg = self._config()
        pairs, preferences = await self._pairs_and_preferences(run, cfg)
        # Thousands of pairs through text checks and bootstrap intervals take seconds of CPU: off the
        # event loop, so the gateway on the same loop keeps answering while a report is built.
        return await asyncio.to_thread(self._render, fmt, pairs, cfg, run, preferences, time.time())

    @staticmethod
    def _render(
        fmt: str,
        pairs: list[ShadowPair],
        cfg: ShadowConfig,
        run: ShadowRun,
        preferences: dict[str, Preference],
        now: float,
    ) -> tuple[str, str]:
        report = build_report(pairs, cfg, run=run, preferences=preferences, now=now)
        if fmt == "html":
            return render_html(report), "text/html; charset=utf-8"
        if fmt == "csv":
            return report_to_csv(report), "text/csv; charset=utf-8"
        return report_to_json(report), "application/json"

    async def export(
        self, n: int, fmt: str = "jsonl", deployment_id: str | None = None, seed: int = 0
    ) -> tuple[str, str]:
        """A stratified sample of pairs for human review (JSONL or CSV)."""
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(
                f"unknown export format {fmt!r}", hint=f"use one of: {', '.join(EXPORT_FORMATS)}"
            )

        run = await self._run(deployment_id)
        cfg = self._config()
        await self.pairs.flush()
        pairs = await self._store.read_pairs(run.deployment_id)
        rows = sample_for_review(pairs, compare_pairs(pairs, cfg), n, seed=seed)
        if fmt == "csv":
            return to_csv(rows), "text/csv; charset=utf-8"
        return to_jsonl(rows), "application/x-ndjson"
