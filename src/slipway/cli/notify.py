"""`slipway notifications` and `slipway notify test`: did the people who should know hear about it?

A notification sent into a dead webhook or to an SMTP server with an expired
password reads as "notified" in the code and as silence on call. The first
command lists what became of the latest deliveries; the second sends a test
message to every sink now and says what each answered.
"""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import example, make_console

console: Console = make_console()

notify_app = typer.Typer(help="Where notifications go: test each sink.", no_args_is_help=True)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def notifications(
    limit: int = typer.Option(50, min=1, max=1000, help="How many deliveries, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """What became of each notification at each sink: delivered, or failed after N attempts and why."""
    rows: list[dict[str, Any]] = AdminClient().get("/admin/notifications", params={"limit": limit})[
        "deliveries"
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no deliveries recorded yet (none configured, or nothing to tell so far)")
        return
    table = Table()
    for col in ("when", "sink", "event", "outcome", "attempts", "last error", "what"):
        table.add_column(col, overflow="fold")
    for r in rows:
        outcome = Text(r["outcome"], style="green" if r["outcome"] == "delivered" else "red")
        # Titles and errors carry people's words and servers' replies: shown as written, never as markup.
        table.add_row(
            _when(r["at"]), Text(r["sink"]), r["event"], outcome, str(r["attempts"]),
            Text(r["error"] or "-"), Text(r["title"]),
        )  # fmt: skip
    console.print(table)


@notify_app.command("test", epilog=example("slipway notify test"))
def test(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Send a test message to each configured sink now; exits 1 if any failed (or none is configured)."""
    out: dict[str, Any] = AdminClient().post("/admin/notify/test", json={})
    sinks: list[dict[str, Any]] = out["sinks"]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    elif not sinks:
        console.print("no notification sinks are configured: add notify.webhooks or notify.email")
    else:
        table = Table()
        for col in ("sink", "result", "answer"):
            table.add_column(col, overflow="fold")
        for s in sinks:
            result = Text("ok", style="green") if s["ok"] else Text("FAILED", style="red")
            table.add_row(Text(s["sink"]), result, Text(s["answer"]))
        console.print(table)
    if not out["ok"]:
        raise typer.Exit(1)


@notify_app.command("summary", epilog=example("slipway notify summary --send"))
def summary(
    send: bool = typer.Option(False, "--send", help="Also send it to every configured sink now."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """The daily summary of the last 24 hours, now: what changed, was checked, was found, what to do next."""
    client = AdminClient()
    note: dict[str, Any] = (
        client.post("/admin/notify/summary", json={}) if send else client.get("/admin/notify/summary")
    )
    if as_json:
        typer.echo(json.dumps(note, indent=2))
        return
    # The text carries people's words (reasons, actors): printed as written, never as markup.
    console.print(Text(note["title"], style="bold"))
    if note["text"]:
        console.print(Text(note["text"]))
    if send:
        console.print("sent to every configured sink (see `slipway notifications` for what each answered)")
