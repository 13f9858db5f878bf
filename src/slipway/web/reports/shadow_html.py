"""The shadow report as one self-contained HTML file: inline CSS, inline SVG charts, no scripts.

One file because it is mailed, attached to a ticket, opened from a laptop
without access to the gateway, and archived with the decision it supported:
nothing in it may point elsewhere (no CDN, no web font, no image URL), and
nothing in it runs. Inputs and answers are user text, so the template
autoescapes everything; the chart geometry is computed here, in Python, and
the template only places numbers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

from slipway.analysis.shadow.render import NONE, ReportLike, as_dict, ms, pct, points, pvalue

TEMPLATE = "shadow_report.html.j2"
#: Groups in the regressions chart: the flagged first, then by regression rate.
CHART_GROUPS = 14
LABEL_W, PLOT_W, ROW_H, BAR_H = 240, 440, 30, 10


@dataclass(frozen=True, slots=True)
class Bar:
    """One horizontal bar with an interval whisker, in SVG user units."""

    y: float
    width: float
    low: float
    high: float
    css: str
    title: str


@dataclass(frozen=True, slots=True)
class Row:
    label: str
    y: float
    bars: tuple[Bar, ...]
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    rows: tuple[Row, ...]
    height: float
    #: x of the zero line (left for rates, the middle for the diverging chart).
    zero: float
    ticks: tuple[tuple[float, str], ...]


def _x(rate: float | None) -> float:
    return 0.0 if rate is None else max(0.0, min(1.0, rate)) * PLOT_W


def _rate_bar(y: float, rate: Mapping[str, Any], css: str, who: str) -> Bar:
    low, high = rate["ci"]
    value = rate["rate"]
    shown = "-" if value is None else f"{value * 100:.1f} %"
    title = f"{who}: {shown} ({rate['count']} of {rate['n']}; CI {low * 100:.1f}–{high * 100:.1f} %)"
    return Bar(y, _x(value), _x(low), _x(high), css, title)


def pass_rate_chart(report: Mapping[str, Any]) -> Chart:
    """Both sides' pass rate per category, with their intervals."""
    groups = next(d for d in report["dimensions"] if d["name"] == "category")["groups"]
    rows = []
    for i, g in enumerate(groups):
        top = i * ROW_H + 6
        rows.append(
            Row(
                g["value"],
                top,
                (
                    _rate_bar(top, g["production_pass"], "prod", "production"),
                    _rate_bar(top + BAR_H + 2, g["candidate_pass"], "cand", "candidate"),
                ),
                g["flagged"],
            )
        )
    ticks = tuple((_x(t / 100), f"{t} %") for t in range(0, 101, 25))
    return Chart(tuple(rows), len(rows) * ROW_H + 24, 0.0, ticks)


def regression_chart(report: Mapping[str, Any]) -> Chart:
    """Regression rate (left, red) and improvement rate (right, green) of the most telling groups."""
    groups = [
        g
        for d in report["dimensions"]
        for g in d["groups"]
        if g["status"] not in ("too few pairs", "all pairs")
    ]

    def rate(g: Mapping[str, Any], key: str) -> float:
        return float(g["change"][key]["rate"] or 0.0)

    groups.sort(key=lambda g: (not g["flagged"], -rate(g, "regression_rate")))
    chosen = groups[:CHART_GROUPS]
    scale = max([0.05, *(max(rate(g, "regression_rate"), rate(g, "improvement_rate")) for g in chosen)])
    half = PLOT_W / 2
    rows = []
    for i, g in enumerate(chosen):
        top = i * ROW_H + 6
        reg, imp = rate(g, "regression_rate"), rate(g, "improvement_rate")
        change = g["change"]
        bars = (
            Bar(top, half * reg / scale, 0, 0, "reg", f"regressions: {change['regressions']} of {g['n']}"),
            Bar(top + BAR_H + 2, half * imp / scale, 0, 0, "imp", f"improvements: {change['improvements']}"),
        )
        rows.append(Row(f"{g['dimension']} = {g['value']}", top, bars, g["flagged"]))
    ticks = tuple((half + half * f, f"{abs(f) * scale * 100:.0f} %") for f in (-1.0, -0.5, 0.0, 0.5, 1.0))
    return Chart(tuple(rows), len(rows) * ROW_H + 24, half, ticks)


def _when(ts: float | None) -> str:
    if ts is None:
        return NONE
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(pct=pct, points=points, ms=ms, p=pvalue, when=_when)
    source = (
        resources.files("slipway.web.reports").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    )
    return env.from_string(source)


def render_html(report: ReportLike) -> str:
    data = as_dict(report)
    return _template().render(
        r=data,
        pass_chart=pass_rate_chart(data),
        regression_chart=regression_chart(data),
        label_w=LABEL_W,
        plot_w=PLOT_W,
        bar_h=BAR_H,
    )
