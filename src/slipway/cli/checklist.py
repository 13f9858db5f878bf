"""`slipway checklist`: the ten pre-deployment items for a staged version, judged on evidence now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import make_console
from slipway.cli.routes import checked
from slipway.cli.smoke_file import read_smoke_file
from slipway.core.canary_schedule import format_duration
from slipway.core.checklist import parse_waivers
from slipway.core.deployments import Strategy
from slipway.core.errors import ValidationError
from slipway.core.names import check_label, check_name, check_text

console: Console = make_console()

_STYLE = {"pass": "green", "fail": "red", "waived": "yellow", "n/a": "dim"}

WAIVE_OPTION: list[str] = typer.Option(
    [], "--waive", help="A checklist item accepted failing (repeatable); needs --reason."
)
REASON_OPTION: list[str] = typer.Option(
    [], "--reason", help="Why the --waive item is accepted (one for all, or one per --waive)."
)
OWNER_OPTION: str | None = typer.Option(None, "--owner", help="The on-call owner of this deployment.")


def waivers_or_exit(items: list[str], reasons: list[str]) -> dict[str, str]:
    """The --waive/--reason pairs, checked here so a mistake is named before anything runs."""
    try:
        return parse_waivers(items, reasons)
    except ValidationError as exc:
        console.print(f"[red]error:[/] {escape(exc.message)}")
        if exc.hint:
            console.print(f"  hint: {escape(exc.hint)}")
        raise typer.Exit(2) from None


def _age(age: Any) -> str:
    if not isinstance(age, int | float):
        return "-"
    return "now" if age < 60 else format_duration(float(age))


def print_checklist(summary: dict[str, Any], out: Console | None = None) -> None:
    """The items as a table (outcome, required, evidence and age, the fix or waiver), then the verdict."""
    out = out or console
    table = Table(
        title=f"pre-deployment checklist: {escape(str(summary['version']))} in {escape(str(summary['slot']))}"
    )
    for col in ("item", "result", "evidence", "age", "fix / waiver"):
        table.add_column(col, overflow="fold")
    for item in summary["items"]:
        status = str(item.get("status"))
        result = f"[{_STYLE.get(status, 'white')}]{escape(status)}[/]" + (
            " (required)" if item.get("required") else ""
        )
        note = item.get("waiver") if status == "waived" else item.get("fix") if status == "fail" else None
        table.add_row(
            escape(str(item.get("item"))),
            result,
            escape(str(item.get("evidence", ""))),
            _age(item.get("age_s")),
            escape(str(note or "")),
        )
    out.print(table)
    verdict = "[green]passed[/]" if summary["passed"] else "[red]failed[/]"
    out.print(f"checklist {verdict}: {escape(str(summary['summary']))}")


def checklist(
    version: str = typer.Argument(help="The version to check, as staged in a slot (e.g. v2.2)."),
    slot: str | None = typer.Option(None, "--slot", help="The slot holding it; default: the one that does."),
    strategy: Strategy = typer.Option(Strategy.BLUEGREEN, "--strategy", help="How it would roll out."),
    steps: str | None = typer.Option(None, "--steps", help="Canary steps to judge (default: the config's)."),
    interval: str | None = typer.Option(
        None, "--interval", help="Canary check interval to judge, e.g. 15m (default: the config's)."
    ),
    owner: str | None = OWNER_OPTION,
    waive: list[str] = WAIVE_OPTION,
    reason: list[str] = REASON_OPTION,
    smoke: Path | None = typer.Option(None, "--smoke", help="Smoke cases the latency replay may use."),
    announce: bool = typer.Option(
        False, "--announce", help="First tell every sink of the deployment (a deploy.announced notification)."
    ),
    window: str | None = typer.Option(
        None, "--window", help='The window, for --announce: "today 14:00-15:00 UTC".'
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Judge the ten pre-deployment items for VERSION on evidence now; exit 1 if a required one fails."""
    checked(version, check_label, "version")
    checked(slot, check_name, "slot name")
    checked(owner, check_label, "owner")
    checked(window, check_text, "window")
    waivers = waivers_or_exit(waive, reason)
    smoke_text = read_smoke_file(smoke)
    body = {
        "version": version,
        "slot": slot,
        "strategy": str(strategy),
        "steps": steps,
        "interval": interval,
        "owner": owner,
        "waivers": waivers,
        "announce": announce,
        "window": window,
        "smoke_jsonl": smoke_text,
        "smoke_source": str(smoke) if smoke else "smoke.jsonl",
    }
    with console.status(f"checking {version}..."):
        out = AdminClient().post("/admin/checklist", json=body)
    summary = out["checklist"]
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        print_checklist(summary)
    if not summary["passed"]:
        raise typer.Exit(1)
