"""Canary commands: `slipway canary status|watch|promote|abort|pause|resume`.

They talk to a running server (`/admin/canary...`). Times are shown relative
to the server's control-loop clock ("3m ago", "1h12m left"), which is real
time unless the server runs a drill clock (SLIPWAY_CLOCK_SCALE).
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import example, make_console
from slipway.core.canary import NOT_SIGNIFICANT_YET
from slipway.core.canary import verdict_words as row_words
from slipway.core.canary_schedule import format_duration

console: Console = make_console()
canary_app = typer.Typer(help="The running canary: its phase, checks and verdicts.", no_args_is_help=True)
bake_app = typer.Typer(
    help="The watch after a blue-green switch: its checks against the old version, and verdicts.",
    no_args_is_help=True,
)

STATUS_STYLE = {
    "running": "green",
    "promoted": "green",
    "stable": "green",
    "paused": "yellow",
    "holding": "yellow",
    "investigating": "yellow",
    "rolled_back": "red",
    "aborted": "red",
    "superseded": "dim",
}
ACTION_STYLE = {
    "pass": "green",
    "inconclusive": "dim",
    "investigate": "yellow",
    "hold": "yellow",
    "rollback": "red",
}


def _dur(seconds: float | None) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def headline(c: dict[str, Any]) -> Text:
    status = c["status"]
    text = Text()
    bake = c.get("kind") == "bake"
    text.append(f"bake of {c['version']} " if bake else f"canary {c['version']} ", style="bold")
    text.append(status, style=f"bold {STATUS_STYLE.get(status, '')}")
    if c["phase_left_s"] is not None:
        text.append(f"  phase {c['phase']}/{c['phases']} at {c['weight_pct']:g}%")
        text.append(f"  {_dur(c['phase_left_s'])} left in the phase")
    else:
        text.append(f"  {c['weight_pct']:g}% of traffic")
    if c["next_check_in_s"] is not None:
        text.append(f"  next check in {_dur(c['next_check_in_s'])}")
    if c.get("monitoring"):
        text.append(f"  monitoring: {_dur(c['monitoring']['left_s'])} to stable")
    return text


def details(c: dict[str, Any]) -> Text:
    if c.get("kind") == "bake":
        return Text(
            f"{c['candidate']} (switched in) against {c['baseline']}'s own traffic before the switch "
            f"(still loaded); deployment {c['deployment_id']}\n{c['reason']}",
            style="dim",
        )
    guard = c.get("guard_interval_s") or 0.0
    guards = f" (a guard check every {_dur(guard)} acts on a rollback only)" if guard > 0 else ""
    return Text(
        f"{c['candidate']} (candidate) against {c['baseline']} (production); steps {','.join(c['steps'])}; "
        f"checks every {_dur(c['interval_s'])}{guards}; inconclusive at a phase end: {c['inconclusive']}; "
        f"deployment {c['deployment_id']}\n{c['reason']}",
        style="dim",
    )


#: Printed under a metric table that has a "not significant yet" row.
NOT_YET = NOT_SIGNIFICANT_YET


def verdict_words(m: dict[str, Any]) -> str:
    """The row's action, saying so when a pass only means the evidence is not in yet."""
    return row_words(
        str(m.get("action")), m.get("baseline"), m.get("candidate"), str(m.get("threshold") or "")
    )


def metric_table(verdict: dict[str, Any], *, explain: bool = False) -> Group:
    """One row per metric; the last column is effect, interval and p (the test and levels with `explain`)."""
    title = Text(f"last check: {verdict['action']} — {verdict['reason']}")
    table = Table(title=title, title_justify="left")
    last = "why" if explain else "effect (interval), p"
    for col in ("metric", "category", "baseline", "candidate", "threshold", "verdict", "n (b/c)", last):
        table.add_column(col)
    pending = False
    for m in verdict["metrics"]:
        action = m["action"]
        words = verdict_words(m)
        pending = pending or words != action
        table.add_row(
            m["metric"],
            m["category"] or "all",
            _num(m["baseline"]),
            _num(m["candidate"]),
            m["threshold"],
            Text(words, style="yellow" if words != action else ACTION_STYLE.get(action, "")),
            f"{m['n_baseline']}/{m['n_candidate']}",
            Text(m["detail"] if explain or not m.get("summary") else m["summary"]),
        )
    if not pending:
        return Group(table)
    return Group(table, Text(NOT_YET, style="dim"))


def timeline(events: list[dict[str, Any]], now: float) -> Table:
    table = Table(title="timeline (newest first)", title_justify="left")
    for col in ("when", "event", "phase", "weight", "by", "why"):
        table.add_column(col)
    for e in events:
        verdict = e.get("verdict")
        kind = e["kind"] + (f": {verdict['action']}" if verdict and e["kind"] == "check" else "")
        table.add_row(
            f"{_dur(now - e['at'])} ago",
            kind,
            str(e["phase"]),
            f"{e['weight_pct']:g}%",
            Text(e["actor"]),
            Text(e["reason"]),
        )
    return table


def render(data: dict[str, Any], *, events: bool = True, explain: bool = False) -> Group:
    c = data["canary"]
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=1.0, completed=c["ramp_progress"], width=50),
        Text(f"{c['ramp_progress'] * 100:.0f}% of the ramp"),
    )
    parts: list[Any] = [headline(c), bar, details(c)]
    if c.get("last_verdict"):
        parts.append(metric_table(c["last_verdict"], explain=explain))
        covered = (c["last_verdict"].get("extra") or {}).get("coverage") or []
        if covered:
            parts.append(coverage_lines(covered))
    if events and data.get("events"):
        parts.append(timeline(data["events"], c["clock_now"]))
    if c["status"] == "rolled_back":
        parts.append(
            Text(
                f"what failed and why: slipway postmortem {c['deployment_id']}; "
                f"its failing cases as regression tests: slipway regressions add --from {c['deployment_id']}",
                style="bold",
            )
        )
    return Group(*parts)


def coverage_lines(rows: list[dict[str, Any]]) -> Text:
    """Which categories the last check could vouch for: labels so far against labels needed."""
    short = [r for r in rows if not r["covered"] and r["required"]]
    thin = [r["category"] for r in rows if not r["covered"] and not r["required"]]
    text = Text()
    share = f"{rows[0].get('required_share', 0.05) * 100:g} %"
    if not short:
        text.append(
            f"coverage: every category with {share} or more of the traffic has enough labels", style="green"
        )
    for r in short:
        eta = r.get("eta_s")
        when = f", about {_dur(eta)} more at the current rate" if eta is not None else ""
        text.append(
            f"not covered: {r['category']} ({r['traffic_share'] * 100:.0f} % of traffic): labels "
            f"{r['labels_baseline']} production / {r['labels_candidate']} candidate, "
            f"{r['labels_needed']} needed each{when}\n",
            style="yellow",
        )
    if thin:
        text.append(f"\nnot covered, under {share} of the traffic: {', '.join(thin)}", style="dim")
    return text


def _get(limit: int) -> dict[str, Any]:
    data: dict[str, Any] = AdminClient().get("/admin/canary", params={"events": limit})
    return data


EVENTS_OPTION = typer.Option(10, "--events", help="How many timeline entries to show.")
EXPLAIN_OPTION = typer.Option(
    False, "--explain", help="Each metric's test, level and reasoning instead of the short figures."
)
JSON_OPTION = typer.Option(False, "--json", help="Machine-readable output.")


def _show(events: int, explain: bool, as_json: bool, *, bake: bool) -> None:
    data = _get(events)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    c = data["canary"]
    if bake and (c is None or c["status"] not in ("promoted", "stable", "rolled_back")):
        console.print("no bake yet; a blue-green deploy starts one when it switches")
    elif c is None:
        console.print("no canary yet; start one with `slipway deploy VERSION --strategy canary`")
    else:
        console.print(render(data, explain=explain))


@canary_app.command("status", epilog=example("slipway canary status --explain"))
def status(
    events: int = EVENTS_OPTION,
    explain: bool = EXPLAIN_OPTION,
    as_json: bool = JSON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """Phase, weight, time left, the last verdict's metric table and the timeline."""
    _show(events, explain, as_json, bake=False)


@bake_app.command("status", epilog=example("slipway bake status --explain"))
def bake_status(
    events: int = EVENTS_OPTION,
    explain: bool = EXPLAIN_OPTION,
    as_json: bool = JSON_OPTION,
    url: str | None = URL_OPTION,
) -> None:
    """The bake of the version a switch made live: its last check, metric table and timeline.

    A canary at 100 % bakes too; this shows whichever runs (the same as `slipway canary status`).
    """
    _show(events, explain, as_json, bake=True)


@bake_app.command("watch", epilog=example("slipway bake watch --every 5"))
def bake_watch(
    every: float = typer.Option(2.0, "--every", help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Draw one frame and exit."),
    url: str | None = URL_OPTION,
) -> None:
    """A live view of the bake until it ends (Ctrl-C to leave it running and stop watching)."""
    watch(every=every, once=once, url=url)


@canary_app.command("watch", epilog=example("slipway canary watch --every 5"))
def watch(
    every: float = typer.Option(2.0, "--every", help="Seconds between refreshes."),
    once: bool = typer.Option(False, "--once", help="Draw one frame and exit."),
    url: str | None = URL_OPTION,
) -> None:
    """A live view of the canary until it ends (Ctrl-C to leave it running and stop watching)."""
    data = _get(5)
    if data["canary"] is None:
        console.print("no canary yet; start one with `slipway deploy VERSION --strategy canary`")
        return
    if once:
        # A pipe is as wide as the output needs: a panel that fills it would be PIPE_WIDTH wide.
        console.print(
            Panel(render(data, events=True), title="slipway canary watch", expand=console.is_terminal)
        )
        return
    final = {"stable", "rolled_back", "aborted", "superseded"}
    try:
        with Live(
            Panel(render(data), title="slipway canary watch"), console=console, refresh_per_second=4
        ) as live:
            while data["canary"]["status"] not in final:
                time.sleep(every)
                data = _get(5)
                live.update(Panel(render(data), title="slipway canary watch"))
    except KeyboardInterrupt:
        return


def _act(action: str, body: dict[str, Any]) -> None:
    out = AdminClient().post(f"/admin/canary/{action}", json=body)
    c = out["canary"]
    console.print(headline(c))
    console.print(Text(c["reason"], style="dim"))


@canary_app.command("promote", epilog=example('slipway canary promote --reason "metrics clean at 25 %"'))
def promote(
    reason: str | None = typer.Option(None, "--reason", "-r", help="Recorded and notified."),
    url: str | None = URL_OPTION,
) -> None:
    """Skip the remaining canary phases: the candidate takes all traffic now."""
    _act("promote", {"reason": reason})


@canary_app.command("abort", epilog=example("slipway canary abort --unload"))
def abort(
    unload: bool = typer.Option(False, "--unload", help="Also release the candidate's engine or adapter."),
    reason: str | None = typer.Option(None, "--reason", "-r", help="Recorded and notified."),
    url: str | None = URL_OPTION,
) -> None:
    """Stop the canary: the candidate's weight goes to 0 % at once; it stays loaded unless --unload."""
    _act("abort", {"reason": reason, "unload": unload})


@canary_app.command("pause", epilog=example('slipway canary pause --reason "holiday traffic"'))
def pause(
    reason: str | None = typer.Option(None, "--reason", "-r", help="Recorded and notified."),
    url: str | None = URL_OPTION,
) -> None:
    """Stop the canary's phase timer at the current weight (checks go on)."""
    _act("pause", {"reason": reason})


@canary_app.command("resume", epilog=example("slipway canary resume"))
def resume(
    reason: str | None = typer.Option(None, "--reason", "-r", help="Recorded and notified."),
    url: str | None = URL_OPTION,
) -> None:
    """Start the paused phase timer again where it stopped."""
    _act("resume", {"reason": reason})
