"""`slipway postmortem` and `slipway regressions add|export`: learn from a rollback.

They talk to a running server (`/admin/postmortem`, `/admin/regressions`):
the analysis is made there from the store, so `--html` writes exactly what
`GET /admin/postmortem/{id}?format=html` serves.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway.cli.client import URL_OPTION, AdminClient, err_console
from slipway.cli.output import example, make_console

console: Console = make_console()
regressions_app = typer.Typer(
    help="Failing production answers as regression cases and training data.", no_args_is_help=True
)


class ExportFormat(StrEnum):
    JSONL = "jsonl"


def _path(deployment: str | None) -> str:
    return "/admin/postmortem" if deployment is None else f"/admin/postmortem/{deployment}"


def postmortem(
    deployment: str | None = typer.Argument(None, help="A deployment id; default: the latest rolled back."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    html: Path | None = typer.Option(None, "--html", help="Also write the report as one HTML file here."),
    retry: str | None = typer.Option(
        None, "--retry", help="Set when to retry (an ISO date, e.g. 2026-12-20), then show the postmortem."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """After a rollback: what failed and for whom, what set the failing inputs apart, how the input mix
    moved since evaluation, the suspected cause, and what to change before retrying."""
    client = AdminClient()
    if retry is not None:
        target = deployment or client.get(_path(None))["deployment_id"]
        client.post(f"{_path(target)}/retry", json={"at": retry})
        deployment = target
    data = client.get(_path(deployment))
    if html is not None:
        page = client.get(_path(data["deployment_id"]), params={"format": "html"}, expect="any")
        html.write_text(page if isinstance(page, str) else json.dumps(page), encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
    else:
        print_postmortem(console, data)
    if html is not None:
        (err_console if as_json else console).print(f"wrote the HTML report to {html}")


def deployments(
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Deployments, newest first: their ids are what `slipway postmortem` and `regressions` take."""
    data = AdminClient().get("/admin/deployments", params={"limit": limit})
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    table = Table("id", "version", "strategy", "slot", "status", "created (UTC)", "by")
    for d in data["deployments"]:
        table.add_row(
            escape(d["id"]), escape(d["version"]), escape(d["strategy"]), escape(d["slot"]),
            escape(d["status"]), _when(d["created_at"]), escape(d["actor"]),
        )  # fmt: skip
    console.print(table)


def print_postmortem(out: Console, r: dict[str, Any]) -> None:
    ro = r["rollout"]
    out.print(
        f"[bold]Postmortem of {escape(ro['version'])}[/] on {escape(ro['slot'])} "
        f"({escape(ro['strategy'])}), deployment {escape(r['deployment_id'])}: {escape(ro['status'])}"
    )
    out.print(f"[red]{escape(r['headline'])}[/]", highlight=False)
    if ro.get("reason"):
        out.print(f"why it ended: {escape(ro['reason'])}", highlight=False)
    b = r["blast_radius"]
    out.print(f"\n[bold]Blast radius[/]: {escape(b['summary'])}; {b['errors']} errors; "
              f"{b['sticky_keys']} distinct users or sessions")  # fmt: skip
    a = r["answers"]
    table = Table(
        "category", "requests", "labelled", "wrong", "wrong rate", title="What it served and got wrong"
    )
    scores = {c["category"]: c for c in a["categories"]}
    for c in b["categories"]:
        s = scores.get(c["category"], {"labelled": 0, "wrong": 0, "wrong_rate": 0.0})
        table.add_row(escape(c["category"]), str(c["requests"]), str(s["labelled"]), str(s["wrong"]),
                      f"{s['wrong_rate'] * 100:.1f} %")  # fmt: skip
    out.print(table)
    found = [f for f in r["findings"] if f["significant"]]
    out.print("[bold]What set the failing inputs apart[/]")
    for f in found or [{"words": "nothing significant: the failing inputs look like the passing ones"}]:
        out.print(f"  • {escape(f['words'])}", highlight=False)
    moved = [s for m in r["mix"]["dimensions"] for s in m["sentences"]]
    if r["mix"]["reference"]:
        out.print(f"[bold]Input mix[/] ({escape(r['mix']['reference'])})")
        for line in moved or ["no significant move"]:
            out.print(f"  • {escape(line)}", highlight=False)
    out.print("[bold]Timeline[/]")
    for t in r["timeline"][-12:]:
        out.print(f"  {_when(t['at'])}  {escape(t['kind'])}: {escape(t['text'])}", highlight=False)
    out.print("[bold]Suspected cause[/]")
    for line in r["cause"]:
        out.print(f"  • {escape(line)}", highlight=False)
    out.print("[bold]What to change[/]")
    for adv in r["advice"]:
        cmd = f"\n      {escape(adv['command'])}" if adv.get("command") else ""
        out.print(f"  • {escape(adv['kind'])}: {escape(adv['text'])}{cmd}", highlight=False)
    out.print(f"[bold]Retry[/]: {escape(r['retry'])}")


def _when(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


@regressions_app.command(
    "add", epilog=example("slipway regressions add --from 3f2a9c1b7d4e --redact '[\\w.+-]+@[\\w-]+\\.\\w+'")
)
def add(
    deployment: str = typer.Option(..., "--from", help="The deployment whose wrong answers become cases."),
    suite: str = typer.Option("regressions", "--suite", help="The suite to append them to (a new version)."),
    redact: list[str] = typer.Option(
        [], "--redact", help="A regular expression; each match becomes [redacted]. Repeat for more."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """The labelled wrong answers of a run become must-pass cases of a suite: deduplicated, redacted,
    each with where it came from."""
    data = AdminClient().post(
        "/admin/regressions", json={"from": deployment, "suite": suite, "redact": redact}
    )
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    version = f" v{data['version']}" if data["version"] is not None else ""
    console.print(f"suite {escape(data['suite'])}{version}: {escape(data['summary'])}", highlight=False)
    for case in data["cases"][:10]:
        category = escape(str(case.get("category")))
        console.print(f"  {escape(case['id'])} ({category}) {escape(case['origin'])}", highlight=False)
    if len(data["cases"]) > 10:
        console.print(f"  … and {len(data['cases']) - 10} more")


@regressions_app.command(
    "export", epilog=example("slipway regressions export --from 3f2a9c1b7d4e -o retrain.jsonl")
)
def export(
    deployment: str = typer.Option(..., "--from", help="The deployment whose wrong answers to export."),
    fmt: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="jsonl (chat messages or prompt)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    redact: list[str] = typer.Option(
        [], "--redact", help="A regular expression; each match becomes [redacted]. Repeat for more."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Training data for the next retrain: each failing input with its right label."""
    body = AdminClient().get(
        "/admin/regressions/export",
        params={"from": deployment, "format": fmt.value, "redact": redact},
        expect="any",
    )
    text = body if isinstance(body, str) else json.dumps(body)
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {text.count(chr(10))} training rows to {output}")
