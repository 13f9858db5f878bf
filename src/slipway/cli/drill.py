"""`slipway drill`: rehearse a rollback on every replica without moving a user; `slipway drill list`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.drill_view import age as _age
from slipway.cli.drill_view import ms as _ms
from slipway.cli.output import make_console
from slipway.cli.routes import checked
from slipway.cli.smoke_file import read_smoke_file
from slipway.core.drill import DEFAULT_DRILL_REQUESTS, MAX_DRILL_REQUESTS
from slipway.core.names import check_name

console = make_console()

drill_app = typer.Typer(
    help="Rehearse a rollback for real: the drill's own requests go to the standby and back.",
    invoke_without_command=True,
)


@drill_app.callback()
def drill(
    ctx: typer.Context,
    slot: str | None = typer.Option(
        None, "--slot", help="Standby slot to rehearse with (default: where a rollback would go)."
    ),
    requests: int = typer.Option(
        DEFAULT_DRILL_REQUESTS,
        "--requests",
        min=1,
        max=MAX_DRILL_REQUESTS,
        help="Drill requests each replica must get answered on the new side of each switch.",
    ),
    smoke: Path | None = typer.Option(
        None, "--smoke", help="Smoke cases (JSONL) the standby must then answer correctly."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Switch the drill's own requests to the standby and back on every replica, and time it.

    Users' requests are never routed differently. The drill then runs the
    smoke set against the standby, clears its pin, and is recorded (passed or
    failed, with the reason); exit status 1 when it failed.
    """
    if ctx.invoked_subcommand is not None:
        return
    checked(slot, check_name, "slot name")
    body: dict[str, Any] = {"slot": slot, "requests": requests}
    text = read_smoke_file(smoke)
    if smoke is not None and text is not None:
        body.update(smoke_jsonl=text, smoke_source=str(smoke))
    if not as_json:
        console.print("drilling: the drill's requests go to the standby and back on every replica...")
    record = AdminClient().post("/admin/drill", json=body)["drill"]
    if as_json:
        typer.echo(json.dumps(record, indent=2))
    else:
        _print_drill(record)
    if not record["passed"]:
        raise typer.Exit(1)


def _print_drill(record: dict[str, Any]) -> None:
    result = record["result"]
    word = "[green]passed[/]" if record["passed"] else "[red]failed[/]"
    moved = f"{escape(str(result.get('active')))} -> {escape(record['slot'])}"
    console.print(
        f"drill {escape(record['id'])} {word}: {moved} "
        f"in {_ms(result.get('switch_ms'))}, back in {_ms(result.get('switch_back_ms'))} (slowest replica)"
    )
    table = Table()
    for col in ("replica", "url", "to standby", "back", "last error"):
        table.add_column(col, overflow="fold")
    for rep in result.get("replicas", []):
        table.add_row(
            escape(rep["replica"]),
            escape(rep["url"]),
            _ms(rep.get("switch_ms")),
            _ms(rep.get("switch_back_ms")),
            escape(rep.get("last_error") or ""),
        )
    console.print(table)
    smoke = result.get("smoke_passed")
    if smoke is None:
        console.print("smoke: not run (give --smoke FILE to check the standby's answers too)")
    else:
        console.print(f"smoke: {'passed' if smoke else '[red]failed[/]'}")
    console.print(
        f"{result.get('drill_requests', 0)} drill requests, none of them recorded as users' traffic"
        if not result.get("unpinned_requests")
        else f"[red]{result['unpinned_requests']} drill requests were routed as users'[/]"
    )
    if result.get("reason"):
        console.print(f"[red]why:[/] {escape(result['reason'])}")


@drill_app.command("list")
def list_drills(
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Past drills, newest first: when, who, which slot, the switch times and the result."""
    drills = AdminClient().get("/admin/drills", params={"limit": limit})["drills"]
    if as_json:
        typer.echo(json.dumps(drills, indent=2))
        return
    if not drills:
        console.print("no drills yet; run one: slipway drill")
        return
    now = time.time()
    table = Table()
    for col in ("when", "by", "slot", "result", "to standby", "back", "smoke", "why"):
        table.add_column(col, overflow="fold")
    for d in drills:
        r = d["result"]
        smoke = r.get("smoke_passed")
        table.add_row(
            f"{_age(now - d['at'])} ago",
            escape(d["actor"]),
            escape(d["slot"]),
            "[green]passed[/]" if d["passed"] else "[red]failed[/]",
            _ms(r.get("switch_ms")),
            _ms(r.get("switch_back_ms")),
            "-" if smoke is None else ("passed" if smoke else "failed"),
            escape(r.get("reason") or ""),
        )
    console.print(table)
