"""Shadow commands: `slipway shadow status|report|export|stop|promote`.

They talk to a running server (`/admin/shadow...`). The report is made by
the server from every pair it holds, so what `report --format html` writes
is what `GET /admin/shadow/report?format=html` serves.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from slipway.cli.checklist import print_checklist, waivers_or_exit
from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import example, make_console
from slipway.cli.routes import checked
from slipway.core.names import check_label

console: Console = make_console()
shadow_app = typer.Typer(
    help="Shadow runs: pairs collected, the comparison report, promotion.", no_args_is_help=True
)


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    HTML = "html"
    CSV = "csv"


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


class Via(StrEnum):
    CANARY = "canary"
    BLUEGREEN = "bluegreen"


def _params(deployment: str | None, **more: Any) -> dict[str, Any]:
    params = {k: v for k, v in more.items() if v is not None}
    if deployment:
        params["deployment"] = deployment
    return params


def _write(text: str, output: Path | None, what: str) -> None:
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    output.write_text(text, encoding="utf-8")
    console.print(f"wrote {what} to {output}")


@shadow_app.command("status", epilog=example("slipway shadow status --json"))
def status(
    deployment: str | None = typer.Option(
        None, "--deployment", help="A run's deployment id; default: the latest."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Pairs collected per category, how many more are needed, and the mirror's counters."""
    from slipway.cli.shadow_view import print_status

    data = AdminClient().get("/admin/shadow", params=_params(deployment))
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    print_status(console, data)


@shadow_app.command("report", epilog=example("slipway shadow report --format html -o shadow.html"))
def report(
    fmt: ReportFormat = typer.Option(ReportFormat.TABLE, "--format", help="table, json, html or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    deployment: str | None = typer.Option(
        None, "--deployment", help="A run's deployment id; default: the latest."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """The structured comparison: format, correctness, preference, regressions by group, go / no-go."""
    wire = "json" if fmt is ReportFormat.TABLE else fmt.value
    body = AdminClient().get("/admin/shadow/report", params=_params(deployment, format=wire), expect="any")
    if fmt is ReportFormat.TABLE:
        from slipway.cli.shadow_view import print_report

        print_report(console, body if isinstance(body, dict) else json.loads(body))
        return
    text = body if isinstance(body, str) else json.dumps(body, indent=2)
    _write(text, output, f"the {fmt.value} report")


@shadow_app.command("export")
def export(
    sample: int = typer.Option(200, "--sample", min=1, help="How many pairs."),
    fmt: ExportFormat = typer.Option(ExportFormat.JSONL, "--format", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same sample."),
    deployment: str | None = typer.Option(
        None, "--deployment", help="A run's deployment id; default: the latest."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Pairs for human review, stratified by category and by disagreement, with columns for the verdict."""
    body = AdminClient().get(
        "/admin/shadow/export",
        params=_params(deployment, sample=sample, format=fmt.value, seed=seed),
        expect="any",
    )
    _write(body if isinstance(body, str) else json.dumps(body), output, f"{sample} pairs ({fmt.value})")


@shadow_app.command("stop")
def stop(
    reason: str | None = typer.Option(None, "--reason", help="Why; shown in the run."),
    url: str | None = URL_OPTION,
) -> None:
    """Stop mirroring now. The pairs and the report stay; the candidate stays staged."""
    out = AdminClient().post("/admin/shadow/stop", json={"reason": reason})
    run = out["shadow"]
    console.print(f"shadow {run['version']} stopped: {run['reason']}; route v{out['route_version']}")


@shadow_app.command("promote", epilog=example("slipway shadow promote --via canary --steps 5%:1h,100%"))
def promote(
    via: Via = typer.Option(..., "--via", help="canary (a ramp) or bluegreen (a switch)."),
    steps: str | None = typer.Option(None, "--steps", help="Canary: weight steps (default: the config's)."),
    interval: str | None = typer.Option(None, "--interval", help="Canary: time between checks."),
    force: bool = typer.Option(
        False, "--force", help="Promote although the report says NO-GO or NOT YET (needs --reason)."
    ),
    reason: list[str] = typer.Option(
        [],
        "--reason",
        help="Why the report's verdict is overridden (--force), or why the --waive item is accepted; "
        "recorded with the promotion.",
    ),
    owner: str | None = typer.Option(
        None, "--owner", help="Blue-green: the on-call owner of the promotion (checklist)."
    ),
    waive: list[str] = typer.Option(
        [], "--waive", help="Blue-green: a checklist item accepted failing (repeatable); needs --reason."
    ),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Move the shadow's candidate to production through a canary ramp or a blue-green switch.

    Only when `slipway shadow report` says GO. Over NO-GO or NOT YET the
    promotion is refused with the report's reasons; `--force --reason "..."`
    promotes anyway, and the override is recorded in the run, the route
    history and the notification. A blue-green switch moves every user, so
    it passes the same pre-deployment checklist as `slipway deploy` first
    (`--owner`, `--waive ITEM --reason "..."`).
    """
    checked(owner, check_label, "owner")
    waivers = waivers_or_exit(waive, reason) if waive else {}
    why = "; ".join(reason) if force and reason else None
    body = {
        "via": via.value,
        "steps": steps,
        "interval": interval,
        "force": force,
        "reason": why,
        "owner": owner,
        "waivers": waivers,
    }
    out = AdminClient().post("/admin/shadow/promote", json=body)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    run = out["shadow"]
    forced = run.get("forced")
    if forced:
        console.print(
            f"[yellow]forced[/] over the shadow report's {escape(forced['verdict'].upper())}: "
            f"{escape(forced['why'])}",
            highlight=False,
        )
    if isinstance(out.get("checklist"), dict):
        print_checklist(out["checklist"])
    if via is Via.BLUEGREEN:
        console.print(
            f"[green]promoted {run['version']}[/]: {out['active']} serves all traffic "
            f"(route v{out['route_version']}). Roll back with `slipway rollback`."
        )
    else:
        c = out["canary"]
        console.print(
            f"[green]canary started[/] for {run['version']} at {c['weight_pct']:g}% "
            f"(deployment {c['deployment_id']}). Follow it with `slipway canary watch`."
        )


@shadow_app.command("replay")
def replay(
    cases: Path = typer.Argument(
        help="Evaluation cases, JSONL in the smoke-test format (label = ground truth)."
    ),
    repeat: int = typer.Option(1, "--repeat", min=1, help="Send every case this many times."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, max=64, help="Requests in flight at once."),
    url: str | None = URL_OPTION,
) -> None:
    """Send evaluation cases through the gateway, so both models answer them, with labels as ground truth.

    Each case goes through the normal request path (so production answers it
    and the mirror copies it); a case with `expect.label` then gets that label
    as feedback, which is how its pair is scored for correctness.
    """
    import asyncio

    import httpx

    from slipway.cli.client import feedback_headers, server_url
    from slipway.core.errors import ConfigError
    from slipway.evals.smoke import parse_smoke_cases

    try:
        parsed = parse_smoke_cases(cases.read_text(encoding="utf-8"), str(cases))
    except OSError as exc:
        console.print(f"[red]error:[/] cannot read {cases}: {exc.strerror}")
        raise typer.Exit(2) from None
    except ConfigError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None

    async def run() -> tuple[int, int, int]:
        gate = asyncio.Semaphore(concurrency)
        sent = labelled = failed = 0
        async with httpx.AsyncClient(base_url=server_url(), timeout=300) as client:

            async def one(case: Any) -> None:
                nonlocal sent, labelled, failed
                body = case.to_openai_request("slipway")
                path = "/v1/completions" if case.completion is not None else "/v1/chat/completions"
                headers = {"x-slipway-category": case.category} if case.category else {}
                async with gate:
                    r = await client.post(path, json=body, headers=headers)
                    sent += 1
                    if r.status_code != 200:
                        failed += 1
                        return
                    if case.expect.label:
                        fb = await client.post(
                            "/v1/feedback",
                            headers=feedback_headers(),
                            json={
                                "request_id": r.headers["x-slipway-request-id"],
                                "label": case.expect.label,
                            },
                        )
                        labelled += fb.status_code == 200

            await asyncio.gather(*(one(c) for c in parsed for _ in range(repeat)))
        return sent, labelled, failed

    try:
        sent, labelled, failed = asyncio.run(run())
    except httpx.ConnectError:
        console.print(
            f"[red]error:[/] no slipway server answers at {server_url()}; "
            "give its address with --url or SLIPWAY_URL"
        )
        raise typer.Exit(2) from None
    console.print(
        f"replayed {sent} requests ({len(parsed)} cases × {repeat}); {labelled} labelled; {failed} failed. "
        "Their pairs appear in `slipway shadow status` once the candidate has answered."
    )
    if failed:
        raise typer.Exit(1)
