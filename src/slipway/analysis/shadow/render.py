"""The report as JSON (everything) and as CSV (one row per group, for a spreadsheet).

Both accept the report or its `to_dict()` — the CLI has only the dict the
admin API sent — so one rendering serves the server and the client alike.
The number formats for people (`pct`, `points`, `ms`, `pvalue`) live here
too, so that the HTML file and the terminal print the same figures.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from slipway.analysis.shadow.report_model import ShadowReport

GROUP_COLUMNS = (
    "dimension",
    "group",
    "n",
    "status",
    "specific",
    "production_pass_rate",
    "candidate_pass_rate",
    "regressions",
    "improvements",
    "net_change",
    "net_change_low",
    "net_change_high",
    "p_worse",
    "p_adjusted",
    "explained_by",
)

ReportLike = ShadowReport | Mapping[str, Any]
NONE = "–"


def pct(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.1f} %"


def points(value: float | None) -> str:
    """A change of a rate, in percentage points with its sign."""
    return NONE if value is None else f"{value * 100:+.1f}"


def ms(value: float | None) -> str:
    return NONE if value is None else f"{value:,.0f} ms"


def pvalue(value: float | None) -> str:
    return NONE if value is None else f"{value:.2g}"


def as_dict(report: ReportLike) -> Mapping[str, Any]:
    return report.to_dict() if isinstance(report, ShadowReport) else report


def report_to_json(report: ReportLike) -> str:
    return json.dumps(as_dict(report), ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def group_rows(report: ReportLike) -> list[dict[str, Any]]:
    rows = []
    for dimension in as_dict(report)["dimensions"]:
        for g in dimension["groups"]:
            change = g["change"]
            rows.append(
                {
                    "dimension": g["dimension"],
                    "group": g["value"],
                    "n": g["n"],
                    "status": g["status"],
                    "specific": g["specific"],
                    "production_pass_rate": g["production_pass"]["rate"],
                    "candidate_pass_rate": g["candidate_pass"]["rate"],
                    "regressions": change["regressions"],
                    "improvements": change["improvements"],
                    "net_change": change["net_change"],
                    "net_change_low": change["net_change_ci"][0],
                    "net_change_high": change["net_change_ci"][1],
                    "p_worse": change["p_worse"],
                    "p_adjusted": g["p_adjusted"],
                    "explained_by": "; ".join(g["explained_by"]),
                }
            )
    return rows


def report_to_csv(report: ReportLike) -> str:
    """One row per group of every dimension; rates and changes as fractions, empty for none."""
    out = io.StringIO()
    writer = csv.DictWriter(out, GROUP_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in group_rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
