"""Renderings of one report: JSON carries everything, CSV one row per group; both read the dict too."""

from __future__ import annotations

import csv
import io
import json

import pytest
from tests.unit.analysis.shadow.synth import make_pairs

from slipway.analysis.shadow.render import GROUP_COLUMNS, report_to_csv, report_to_json
from slipway.analysis.shadow.report import build_report
from slipway.analysis.shadow.report_model import ShadowReport
from slipway.core.shadow_config import ShadowConfig


@pytest.fixture(scope="module")
def report() -> ShadowReport:
    return build_report(
        make_pairs(1500, 3, lambda c, code: 0.4 if c == "shipping" else 0.0), ShadowConfig(), now=1.0
    )


def test_json_round_trip(report: ShadowReport) -> None:
    text = report_to_json(report)
    assert json.loads(text) == report.to_dict()
    assert report_to_json(report.to_dict()) == text


def test_csv_has_one_row_per_group_and_round_trips(report: ShadowReport) -> None:
    rows = list(csv.DictReader(io.StringIO(report_to_csv(report))))
    groups = [g for d in report.dimensions for g in d.groups]
    assert len(rows) == len(groups)
    assert list(rows[0]) == list(GROUP_COLUMNS)
    for row, g in zip(rows, groups, strict=True):
        assert (row["dimension"], row["group"], int(row["n"]), row["status"]) == (
            g.dimension,
            g.value,
            g.n,
            g.status.value,
        )
        assert float(row["net_change"]) == pytest.approx(g.change.net_change)
        assert float(row["net_change_low"]) == pytest.approx(g.change.net_low)
        assert int(row["regressions"]) == g.change.counts.regressions
        assert row["p_adjusted"] == ("" if g.p_adjusted is None else str(g.p_adjusted))
    shipping = next(r for r in rows if r["group"] == "shipping")
    assert shipping["status"] == "regressed" and shipping["specific"] == "True"
    assert report_to_csv(report.to_dict()) == report_to_csv(report)
