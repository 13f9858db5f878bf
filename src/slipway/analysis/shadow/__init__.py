"""Shadow mode's comparison: every pair judged, grouped and reported. Pure.

    build_report(pairs, config, *, run=None, preferences=None, now) -> ShadowReport
    adequacy_for(pairs | counts_by_category, decision, *, checks=None) -> tuple[Adequacy, ...]
    compare_pairs(pairs, config, preferences=None) -> list[PairOutcome]
    sample_for_review(pairs, outcomes, n, seed) -> list[dict]; to_jsonl(rows), to_csv(rows)
    report_to_json(report), report_to_csv(report)

docs/shadow.md explains the comparison and the statistics for operators.
"""

from slipway.analysis.shadow.adequacy import Adequacy, adequacy, adequacy_for
from slipway.analysis.shadow.compare import (
    UNCATEGORIZED,
    Outcome,
    PairOutcome,
    compare_pair,
    compare_pairs,
    counts_by_category,
)
from slipway.analysis.shadow.export import sample_for_review, to_csv, to_jsonl
from slipway.analysis.shadow.paired import PairedCounts
from slipway.analysis.shadow.render import report_to_csv, report_to_json
from slipway.analysis.shadow.report import build_report
from slipway.analysis.shadow.report_model import ShadowReport

__all__ = [
    "UNCATEGORIZED",
    "Adequacy",
    "Outcome",
    "PairOutcome",
    "PairedCounts",
    "ShadowReport",
    "adequacy",
    "adequacy_for",
    "build_report",
    "compare_pair",
    "compare_pairs",
    "counts_by_category",
    "report_to_csv",
    "report_to_json",
    "sample_for_review",
    "to_csv",
    "to_jsonl",
]
