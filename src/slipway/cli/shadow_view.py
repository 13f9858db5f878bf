"""Terminal views of a shadow run: `slipway shadow report` (table format) and `slipway shadow status`.

They read the plain dicts the admin API returns (`ShadowReport.to_dict()`,
the status dict), never the analysis objects, so the CLI renders exactly what
the server computed. The order is the order of an operator's questions: can I
promote (verdict), how much worse or better (overall), where exactly (flagged
groups first), and how long until I know (adequacy). Every value that came
from users or config goes in as `Text`, so brackets in it are not read as
rich markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from slipway.analysis.shadow.render import ms, pct, points

DECISION_STYLE = {"go": "bold green", "no-go": "bold red", "not yet": "bold yellow"}
STATUS_STYLE = {
    "regressed": "red",
    "worse": "yellow",
    "explained": "dim",
    "too few pairs": "dim",
    "all pairs": "dim",
}


def _rate(rate: Mapping[str, Any]) -> str:
    return f"{pct(rate['rate'])} ({rate['count']}/{rate['n']})"


def verdict_line(report: Mapping[str, Any]) -> Text:
    verdict = report["verdict"]
    decision = verdict["decision"]
    line = Text()
    line.append(f"{decision.upper()} ", style=DECISION_STYLE.get(decision, "bold"))
    cand, prod = report["candidate"], report["production"]
    line.append(
        f"{cand['slot']} {cand['version']} against {prod['slot']} {prod['version']}, {report['pairs']} pairs"
    )
    return line


def overall_table(report: Mapping[str, Any]) -> Table:
    table = Table(title="overall", title_justify="left")
    for col in ("", "production", "candidate"):
        table.add_column(col, justify="right" if col else "left")
    prod, cand = report["production"], report["candidate"]
    for key, title in (
        ("pass_rate", "pass rate"),
        ("format_compliance", "format compliance"),
        ("correctness", "correct (labelled)"),
        ("error_rate", "error rate"),
    ):
        table.add_row(title, _rate(prod[key]), _rate(cand[key]))
    table.add_row(
        "latency p50 / p95",
        f"{ms(prod['latency_p50_ms'])} / {ms(prod['latency_p95_ms'])}",
        f"{ms(cand['latency_p50_ms'])} / {ms(cand['latency_p95_ms'])}",
    )
    change = report["change"]
    low, high = change["net_change_ci"]
    table.add_row(
        "regressions / improvements",
        "",
        f"{change['regressions']} / {change['improvements']} "
        f"(net {points(change['net_change'])} points, CI {points(low)} to {points(high)})",
    )
    pref = report.get("preference")
    if pref:
        table.add_row(
            "judge: candidate preferred / tie / production",
            "",
            f"{pref['wins']} / {pref['ties']} / {pref['losses']} of {pref['judged']}",
        )
    return table


def groups_table(report: Mapping[str, Any], *, flagged_only: bool = False) -> Table:
    """Flagged groups first (causes before the rest), then every other judged group."""
    groups = [g for d in report["dimensions"] for g in d["groups"]]
    flagged = sorted(
        (g for g in groups if g["flagged"]), key=lambda g: (not g["specific"], -g["change"]["regressions"])
    )
    others = [] if flagged_only else [g for g in groups if not g["flagged"]]
    table = Table(title="groups (flagged first)", title_justify="left")
    for col in ("group", "n", "status", "production", "candidate", "regr.", "impr.", "net [CI]", "note"):
        table.add_column(col, justify="right" if col in ("n", "regr.", "impr.") else "left")
    for g in [*flagged, *others]:
        change = g["change"]
        low, high = change["net_change_ci"]
        note = ""
        if g["explained_by"]:
            note = "explained by " + ", ".join(g["explained_by"])
        elif g["flagged"]:
            note = "concentrated here" if g["specific"] else "across the board"
        table.add_row(
            Text(f"{g['dimension']} = {g['value']}"),
            str(g["n"]),
            Text(g["status"], style=STATUS_STYLE.get(g["status"], "")),
            pct(g["production_pass"]["rate"]),
            pct(g["candidate_pass"]["rate"]),
            str(change["regressions"]),
            str(change["improvements"]),
            f"{points(change['net_change'])} [{points(low)}, {points(high)}]",
            Text(note),
        )
    return table


def adequacy_table(rows: list[Mapping[str, Any]]) -> Table:
    table = Table(title="sample-size adequacy", title_justify="left")
    for col in ("category", "pairs", "needed", "more"):
        table.add_column(col, justify="left" if col == "category" else "right")
    table.add_column("")
    for a in rows:
        style = "green" if a["met"] else "yellow"
        table.add_row(
            Text(a["category"]),
            str(a["pairs"]),
            str(a["needed"]),
            str(a["more"]),
            Text(a["text"], style=style),
        )
    return table


def print_report(console: Console, report_dict: dict[str, Any], *, all_groups: bool = False) -> None:
    """Verdict and its reasons, the overall table, the groups (flagged only unless `all_groups`), adequacy."""
    console.print(verdict_line(report_dict))
    for reason in report_dict["verdict"]["reasons"]:
        console.print(Text(f"  • {reason}"))
    console.print(Text(f"rule: {report_dict['verdict']['rule']}", style="dim"))
    console.print(overall_table(report_dict))
    has_flags = any(g["flagged"] for d in report_dict["dimensions"] for g in d["groups"])
    if has_flags or all_groups:
        console.print(groups_table(report_dict, flagged_only=not all_groups))
    else:
        console.print(Text("no group flagged", style="green"))
    console.print(adequacy_table(report_dict["adequacy"]))


def print_status(console: Console, status_dict: dict[str, Any]) -> None:
    """The run, pairs collected per category with what each still needs, and the mirror's counters."""
    run = status_dict.get("shadow")
    if run is None:
        console.print("no shadow run; start one with `slipway deploy VERSION --strategy shadow`")
        return
    head = Text()
    head.append(f"shadow {run['version']} ", style="bold")
    head.append(run["status"], style="bold green" if run["status"] == "running" else "bold")
    head.append(f"  {run['candidate']} mirrors {run['production']} at {run['sample_pct']:g}%")
    until = f" of {run['until_pairs']}" if run.get("until_pairs") else ""
    head.append(f"  {status_dict['pairs']}{until} pairs")
    console.print(head)
    if run.get("reason"):
        console.print(Text(run["reason"], style="dim"))
    mirror = status_dict.get("mirror") or {}
    if mirror:
        console.print(
            Text(
                f"mirror: {mirror.get('sent', 0)} sent, {mirror.get('queued', 0)} queued, "
                f"{mirror.get('dropped', 0)} dropped, {mirror.get('errors', 0)} errors",
                style="yellow" if mirror.get("dropped") or mirror.get("errors") else "dim",
            )
        )
    needs = {a["category"]: a for a in status_dict.get("adequacy") or []}
    table = Table(title="pairs per category", title_justify="left")
    for col in ("category", "pairs", "needed", "more"):
        table.add_column(col, justify="left" if col == "category" else "right")
    table.add_column("")
    categories = dict(status_dict.get("by_category") or {})
    for category in sorted({*categories, *needs}, key=lambda c: -categories.get(c, 0)):
        a = needs.get(category)
        table.add_row(
            Text(category),
            str(categories.get(category, a["pairs"] if a else 0)),
            str(a["needed"]) if a else "-",
            str(a["more"]) if a else "-",
            Text(a["text"], style="green" if a["met"] else "yellow") if a else Text(""),
        )
    console.print(table)
