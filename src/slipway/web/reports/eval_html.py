"""An evaluation run as one self-contained HTML file: the verdict, per-category table, failing cases.

Self-contained for the same reason as the shadow report (mailed, attached to
a ticket, archived with the deploy). Case inputs and answers are user text:
everything is escaped here, nothing in the page runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from html import escape
from typing import Any

from slipway.core.lifecycle import EvalRunRecord

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{font-size:1.4rem}.pass{color:#176f2c}.fail{color:#b3261e}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{white-space:pre-wrap}
"""


def eval_run_html(run: EvalRunRecord) -> str:
    result = run.result
    verdict = "passed" if run.passed else "FAILED"
    css = "pass" if run.passed else "fail"
    when = dt.datetime.fromtimestamp(run.at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    against = f" against {_e(run.against)} ({_e(run.against_version)})" if run.against else " (alone)"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>slipway evaluation {_e(run.suite)} on {_e(run.slot_version)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Suite {_e(run.suite)} v{run.suite_version}: <span class={css}>{verdict}</span></h1>",
        f"<p>{_e(run.slot)} ({_e(run.slot_version)}){against}, {when}, by {_e(run.actor)}.",
        f"Run {_e(run.id)}.</p>",
    ]
    reasons = result.get("reasons") or []
    if reasons:
        parts.append("<ul>" + "".join(f"<li>{_e(r)}</li>" for r in reasons) + "</ul>")
    parts.append(_categories(result))
    parts.append(_cases(result))
    parts.append("</body></html>")
    return "\n".join(parts)


def _categories(result: Mapping[str, Any]) -> str:
    head = (
        "<table><tr><th>category</th><th>cases</th><th>candidate right</th><th>production right</th>"
        "<th>worse by (points)</th><th>at least</th><th>p</th><th></th></tr>"
    )
    rows = []
    categories = dict(result.get("categories") or {})
    if result.get("whole"):
        categories["all cases"] = result["whole"]
    for name, row in categories.items():
        flag = "<span class=fail>worse</span>" if row.get("significant") else ""
        numbers = [
            _num(row.get(key))
            for key in ("n", "candidate_correct", "baseline_correct", "worse_by_points", "lower_bound_points")
        ]
        cells = "".join(f"<td class=n>{n}</td>" for n in [*numbers, _p(row.get("p_value"))])
        rows.append(f"<tr><td>{_e(name)}</td>{cells}<td>{flag}</td></tr>")
    return head + "".join(rows) + "</table>"


def _cases(result: Mapping[str, Any]) -> str:
    failing = [c for c in result.get("cases") or [] if not c.get("candidate_passed")]
    if not failing:
        return "<p>Every case passed on the candidate.</p>"
    rows = [
        "<tr>"
        + "".join(
            f"<td>{cell}</td>"
            for cell in (
                _e(c.get("id")) + (" (hard)" if c.get("must_pass") else ""),
                _e(c.get("category")),
                f"<code>{_e(c.get('candidate_answer'))}</code>",
                _e("; ".join(c.get("failures") or [])),
                _prod(c.get("baseline_passed")),
                _e(c.get("origin") or ""),
            )
        )
        + "</tr>"
        for c in failing
    ]
    return (
        f"<h2>{len(failing)} failing case{'s' if len(failing) != 1 else ''}</h2><table><tr><th>case</th>"
        "<th>category</th><th>answer</th><th>why</th><th>production</th><th>origin</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _num(value: object) -> str:
    return "–" if value is None else _e(value)


def _p(value: object) -> str:
    return f"{value:.2g}" if isinstance(value, float) else "–"


def _prod(value: object) -> str:
    return "–" if value is None else ("right" if value else "wrong too")
