"""`slipway eval`: evaluation suites (versioned cases) and their runs against a slot and production.

`eval add` stores a JSONL file as a suite's next version; `eval run` sends
every case to the candidate and, with `--against`, to production, and judges
them per category, paired; the run is stored, so the checklist and the
postmortem can read what a version passed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from slipway.cli.client import STREAM_SILENCE_S, URL_OPTION, AdminClient, err_console
from slipway.cli.output import example, make_console
from slipway.cli.routes import checked
from slipway.core.names import check_name, check_text

console = make_console()

eval_app = typer.Typer(help="Evaluation suites: versioned cases a candidate must pass.", no_args_is_help=True)


@eval_app.command("add", epilog=example("slipway eval add billing cases/billing.jsonl --max-drop 5"))
def add(
    name: str = typer.Argument(help="Suite name (e.g. billing, regressions)."),
    file: Path = typer.Argument(
        help="JSONL cases: smoke-case fields plus origin and must_pass.", exists=True
    ),
    max_drop: float | None = typer.Option(
        None, "--max-drop", min=0, max=100, help="Largest drop per category, in points (default 5)."
    ),
    alpha: float | None = typer.Option(None, min=1e-6, max=0.5, help="Chance of failing an equal candidate."),
    min_accuracy: float | None = typer.Option(
        None, "--min-accuracy", min=0, max=1, help="Run alone: the share of cases that must pass."
    ),
    note: str = typer.Option("", help="What changed in this version."),
    url: str | None = URL_OPTION,
) -> None:
    """Store FILE as the suite's next version (the first creates it); the rule carries over unless given."""
    checked(name, check_name, "suite name")
    checked(note, check_text, "note")
    body: dict[str, Any] = {
        "cases_jsonl": file.read_text(encoding="utf-8"),
        "source": file.name[:200] or "cases.jsonl",
        "note": note,
    }
    given = {"max_drop_points": max_drop, "alpha": alpha, "min_accuracy": min_accuracy}
    if any(v is not None for v in given.values()):
        body["rule"] = {k: v for k, v in given.items() if v is not None}
    suite = AdminClient().post(f"/admin/evals/suites/{name}", json=body)["suite"]
    console.print(
        f"suite {escape(suite['name'])} version {suite['version']}: {suite['cases']} cases"
        f" ({suite['must_pass']} hard), {_rule(suite['rule'])}"
    )


@eval_app.command("list", epilog=example("slipway eval list"))
def list_suites(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Every suite's latest version."""
    suites = AdminClient().get("/admin/evals/suites")["suites"]
    if as_json:
        typer.echo(json.dumps(suites, indent=2))
        return
    if not suites:
        console.print("no evaluation suites yet: slipway eval add NAME cases.jsonl")
        return
    table = Table()
    for col in ("suite", "version", "cases", "hard", "rule", "changed", "by", "note"):
        table.add_column(col, overflow="fold")
    for s in suites:
        table.add_row(
            escape(s["name"]),
            str(s["version"]),
            str(s["cases"]),
            str(s["must_pass"]),
            _rule(s["rule"]),
            _when(s["created_at"]),
            escape(s["actor"]),
            escape(s["note"]),
        )
    console.print(table)


@eval_app.command("run", epilog=example("slipway eval run billing --slot green --against blue"))
def run(
    suite: str | None = typer.Argument(None, help="Suite to run; default: every suite."),
    slot: str = typer.Option(..., "--slot", help="The slot under test (the candidate)."),
    against: str | None = typer.Option(None, "--against", help="Production slot to pair with."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output (every case)."),
    html: Path | None = typer.Option(None, "--html", help="Also write each run's report to this HTML file."),
    url: str | None = URL_OPTION,
) -> None:
    """Run a suite on a slot, paired against production per category; exit 1 when a gate fails.

    SUITE is a stored suite's name, or a JSONL file: stored first as the
    suite named after the file (a new version only if its cases changed).
    """
    client = AdminClient()
    if suite is not None and (suite.endswith((".jsonl", ".json")) or Path(suite).is_file()):
        suite = _store_file(client, Path(suite))
    for value, what in ((suite, "suite name"), (slot, "slot name"), (against, "slot name")):
        if value is not None:
            checked(value, check_name, what)
    body = {"suite": suite, "slot": slot, "against": against}
    out = _run_streamed(client, {k: v for k, v in body.items() if v is not None})
    if as_json:
        typer.echo(json.dumps(out, indent=2))
    else:
        if not out["runs"]:
            console.print("no evaluation suites to run: slipway eval add NAME cases.jsonl")
        for r in out["runs"]:
            _print_run(r)
    if html is not None:
        _write_reports(client, out["runs"], html)
    if not out["passed"]:
        raise typer.Exit(1)


def _run_streamed(client: AdminClient, body: dict[str, Any]) -> dict[str, Any]:
    """Run on the server with a progress bar (stderr, on a terminal); the run's answer.

    The server streams how far it has got, so a suite of any size runs
    without a deadline; stopping here (Ctrl-C) does not stop the run there.
    """
    goes_on = "the run goes on in the server, and `slipway eval runs` shows it once it ends"
    silence = f"the server said nothing for {STREAM_SILENCE_S:g} s; {goes_on}"
    lines = client.stream_lines("/admin/evals/run", body, silence=silence)
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err_console, transient=True,
    )  # fmt: skip
    task = bar.add_task("starting", total=None)
    try:
        with bar:
            for line in lines:
                if isinstance(p := line.get("progress"), dict):
                    where = f" ({p['index']}/{p['suites']})" if p.get("suites", 1) > 1 else ""
                    bar.update(
                        task, description=f"{p['suite']}{where}", completed=p["answered"], total=p["total"]
                    )
                elif isinstance(result := line.get("result"), dict):
                    return result
                elif isinstance(error := line.get("error"), dict):
                    err_console.print(f"[red]error:[/] {escape(str(error.get('message')))}", highlight=False)
                    if error.get("hint"):
                        err_console.print(f"  hint: {escape(str(error['hint']))}", highlight=False)
                    raise typer.Exit(1)
    except KeyboardInterrupt:
        err_console.print(f"stopped waiting: {goes_on}")
        raise typer.Exit(130) from None
    err_console.print(f"[red]error:[/] the server's answer ended before its result; {goes_on}")
    raise typer.Exit(2)


@eval_app.command("runs", epilog=example("slipway eval runs --suite regressions"))
def runs(
    suite: str | None = typer.Option(None, "--suite", help="Only this suite's runs."),
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Past runs, newest first."""
    if suite is not None:
        checked(suite, check_name, "suite name")
    params: dict[str, Any] = {"limit": limit} | ({"suite": suite} if suite else {})
    found = AdminClient().get("/admin/evals/runs", params=params)["runs"]
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    table = Table()
    for col in ("run", "when", "suite", "version under test", "against", "result"):
        table.add_column(col, overflow="fold")
    for r in found:
        against = f"{r['against']} ({r['against_version']})" if r["against"] else "alone"
        table.add_row(
            escape(r["id"]),
            _when(r["at"]),
            f"{escape(r['suite'])} v{r['suite_version']}",
            f"{escape(r['slot'])} ({escape(r['slot_version'])})",
            escape(against),
            "passed" if r["passed"] else "[red]FAILED[/red]",
        )
    console.print(table)


def _store_file(client: AdminClient, path: Path) -> str:
    """Store a suite file under its stem (`cases/billing.jsonl` is suite `billing`); its name."""
    if not path.is_file():
        err_console.print(f"[red]error:[/] no suite file {escape(str(path))}")
        raise typer.Exit(2)
    name = path.stem
    checked(name, check_name, "suite name (the file's name without .jsonl)")
    body = {"cases_jsonl": path.read_text(encoding="utf-8"), "source": path.name[:200]}
    stored = client.post(f"/admin/evals/suites/{name}", json=body)["suite"]
    # On stderr: `--json` keeps stdout for the runs.
    err_console.print(
        f"suite {escape(name)} version {stored['version']} ({stored['cases']} cases) from {escape(path.name)}"
    )
    return name


def _write_reports(client: AdminClient, done: list[dict[str, Any]], html: Path) -> None:
    """One page per run: HTML at `html`, or beside it per suite when several suites ran."""
    for r in done:
        path = html if len(done) == 1 else html.with_name(f"{html.stem}-{r['suite']}{html.suffix or '.html'}")
        page = client.get(f"/admin/evals/runs/{r['id']}", params={"format": "html"}, expect="any")
        path.write_text(page, encoding="utf-8")
        console.print(f"wrote {escape(r['suite'])}'s report to {escape(str(path))}")


def _print_run(r: dict[str, Any]) -> None:
    text = r["result"].get("text", "")
    style = "" if r["passed"] else "red"
    for i, line in enumerate(text.splitlines()):
        console.print(f"[{style}]{escape(line)}[/{style}]" if style and i == 0 else escape(line))
    console.print(f"  run {escape(r['id'])}: slipway eval runs --suite {escape(r['suite'])}")


def _rule(rule: dict[str, Any]) -> str:
    words = f"allows a drop of {rule.get('max_drop_points', 5):g} points per category"
    if rule.get("min_accuracy") is not None:
        words += f", alone at least {rule['min_accuracy']:.0%} right"
    return words


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
