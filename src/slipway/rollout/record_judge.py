"""A small judge straight from the request records, until `analysis.decide` is wired in.

It is real logic, not a stub, and deliberately conservative:
- error rate: rollback when the candidate's is more than 2× production's, at
  least 1 point higher, and a one-sided Fisher exact test says p < alpha;
- p95 latency of completed requests: hold when the candidate's is more than
  1.5× production's, at least `latency_floor_ms` slower, and a one-sided
  Mann-Whitney test says p < alpha;
- accuracy per category, from ground-truth labels in feedback
  (`analysis.categories`: 5-point minimum drop, Fisher exact): rollback;
- fewer than `min_requests` on either side: inconclusive.
It does not correct for repeated looks; the analysis package's judge does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from scipy.stats import fisher_exact, mannwhitneyu

from slipway.analysis.categories import compare_categories, score_by_category
from slipway.core.canary import CanaryVerdict, JudgeRequest, MetricRow, VerdictAction
from slipway.core.records import Feedback, RequestRecord

_WORD = re.compile(r"[A-Za-z0-9_-]+")


class RecordReader(Protocol):
    async def list_requests(
        self, *, since: float, until: float | None = None, slot: str | None = None, limit: int | None = None
    ) -> list[RequestRecord]: ...

    async def requests_with_feedback(
        self, *, since: float, until: float | None = None
    ) -> list[tuple[RequestRecord, Feedback]]: ...


def failed(rec: RequestRecord) -> bool:
    """The store's rule: an error status or a recorded error, except a client hanging up."""
    return rec.status >= 400 or (rec.error is not None and rec.error != "client_disconnected")


def first_word(text: str) -> str:
    match = _WORD.search(text)
    return match.group(0).lower() if match else ""


class RecordJudge:
    def __init__(
        self,
        records: RecordReader,
        *,
        min_requests: int = 50,
        min_labels: int = 20,
        alpha: float = 0.01,
        latency_floor_ms: float = 20.0,
    ) -> None:
        self._records = records
        self.min_requests = min_requests
        self.min_labels = min_labels
        self.alpha = alpha
        self.latency_floor_ms = latency_floor_ms

    async def evaluate(self, request: JudgeRequest) -> CanaryVerdict:
        base = await self._records.list_requests(
            since=request.baseline_since, until=request.baseline_until, slot=request.baseline_slot
        )
        cand = await self._records.list_requests(
            since=request.candidate_since, until=request.candidate_until, slot=request.candidate_slot
        )
        rows = [self._errors(base, cand), self._latency(base, cand)]
        rows += await self._accuracy(request)
        return self._verdict(rows, len(base), len(cand))

    def _verdict(self, rows: list[MetricRow], n_base: int, n_cand: int) -> CanaryVerdict:
        worst = max(rows, key=lambda r: r.action.severity)
        if worst.action in (VerdictAction.ROLLBACK, VerdictAction.HOLD, VerdictAction.INVESTIGATE):
            where = f" [{worst.category}]" if worst.category else ""
            reason = (
                f"{worst.metric}{where}: candidate {_fmt(worst.candidate)} vs production "
                f"{_fmt(worst.baseline)}; {worst.detail}"
            )
            return CanaryVerdict(worst.action, reason, tuple(rows))
        if min(n_base, n_cand) < self.min_requests:
            reason = f"too few requests: {n_cand} candidate, {n_base} baseline; need {self.min_requests} each"
            return CanaryVerdict(VerdictAction.INCONCLUSIVE, reason, tuple(rows))
        return CanaryVerdict(
            VerdictAction.PASS,
            f"every metric within its threshold ({n_cand} candidate, {n_base} baseline requests)",
            tuple(rows),
        )

    def _errors(self, base: Sequence[RequestRecord], cand: Sequence[RequestRecord]) -> MetricRow:
        eb, ec = sum(map(failed, base)), sum(map(failed, cand))
        rb, rc = _rate(eb, len(base)), _rate(ec, len(cand))
        action, detail = VerdictAction.PASS, "within 2× production"
        if min(len(base), len(cand)) < self.min_requests:
            action, detail = VerdictAction.INCONCLUSIVE, f"need {self.min_requests} requests per side"
        elif rc > 2 * rb and rc - rb >= 0.01:
            _odds, p = fisher_exact([[ec, len(cand) - ec], [eb, len(base) - eb]], alternative="greater")
            if float(p) < self.alpha:
                action, detail = VerdictAction.ROLLBACK, f"Fisher exact p={float(p):.1g}"
            else:
                detail = f"above 2× but not significant yet (p={float(p):.2g})"
        return MetricRow(
            "error_rate", rb, rc, "> 2× production", action, n_baseline=len(base), n_candidate=len(cand),
            detail=detail,
        )  # fmt: skip

    def _latency(self, base: Sequence[RequestRecord], cand: Sequence[RequestRecord]) -> MetricRow:
        lb = np.array([r.latency_ms for r in base if not failed(r) and not r.aborted], dtype=np.float64)
        lc = np.array([r.latency_ms for r in cand if not failed(r) and not r.aborted], dtype=np.float64)
        pb = float(np.percentile(lb, 95)) if lb.size else None
        pc = float(np.percentile(lc, 95)) if lc.size else None
        action, detail = VerdictAction.PASS, "within 1.5× production"
        if min(lb.size, lc.size) < self.min_requests or pb is None or pc is None:
            action, detail = (
                VerdictAction.INCONCLUSIVE,
                f"need {self.min_requests} completed requests per side",
            )
        elif pc > 1.5 * pb and pc - pb >= self.latency_floor_ms:
            p = float(mannwhitneyu(lc, lb, alternative="greater").pvalue)
            if p < self.alpha:
                action, detail = VerdictAction.HOLD, f"{pc / pb:.2f}× production, Mann-Whitney p={p:.1g}"
            else:
                detail = f"above 1.5× but not significant yet (p={p:.2g})"
        return MetricRow(
            "p95_latency_ms", pb, pc, "> 1.5× production", action, n_baseline=int(lb.size),
            n_candidate=int(lc.size), detail=detail,
        )  # fmt: skip

    async def _accuracy(self, request: JudgeRequest) -> list[MetricRow]:
        since = min(request.baseline_since, request.candidate_since)
        until = max(request.baseline_until, request.candidate_until)
        pairs = await self._records.requests_with_feedback(since=since, until=until)

        def outcomes(slot: str, lo: float, hi: float) -> list[tuple[str, bool]]:
            return [
                (fb.label.lower(), first_word(rec.output_head) == fb.label.lower())
                for rec, fb in pairs
                if rec.slot == slot and fb.label and not failed(rec) and lo <= rec.started_at < hi
            ]

        base = score_by_category(
            outcomes(request.baseline_slot, request.baseline_since, request.baseline_until)
        )
        cand = score_by_category(
            outcomes(request.candidate_slot, request.candidate_since, request.candidate_until)
        )
        rows = []
        for c in compare_categories(base, cand, min_drop=0.05, alpha=self.alpha, min_samples=self.min_labels):
            if c.regressed:
                action = VerdictAction.ROLLBACK
            elif min(c.baseline.n, c.candidate.n) < self.min_labels:
                action = VerdictAction.INCONCLUSIVE
            else:
                action = VerdictAction.PASS
            rows.append(
                MetricRow(
                    "accuracy",
                    c.baseline.accuracy,
                    c.candidate.accuracy,
                    "> 5 points drop",
                    action,
                    category=c.category,
                    n_baseline=c.baseline.n,
                    n_candidate=c.candidate.n,
                    detail=c.reason,
                )
            )
        return rows


def _rate(k: int, n: int) -> float:
    return k / n if n else 0.0


def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.3g}"
