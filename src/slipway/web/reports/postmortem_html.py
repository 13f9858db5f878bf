"""The postmortem as one self-contained HTML file: inline CSS, no scripts, nothing fetched.

Attached to the incident ticket and read by people without access to the
gateway, like the shadow report. Inputs, answers, labels, categories and
actors are user- or client-supplied text: the template autoescapes all of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

import jinja2

TEMPLATE = "postmortem.html.j2"


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f} %"


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    env.filters.update(when=_when, pct=_pct)
    source = (
        resources.files("slipway.web.reports").joinpath("templates", TEMPLATE).read_text(encoding="utf-8")
    )
    return env.from_string(source)


def render_postmortem_html(report: Mapping[str, Any]) -> str:
    """`report` is `Postmortem.to_dict()` (or the admin API's JSON of it)."""
    return _template().render(r=report)
