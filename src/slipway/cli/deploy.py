"""`slipway deploy`: stage a version in a standby slot, smoke-test it, then switch or ramp."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from slipway.cli.checklist import OWNER_OPTION, REASON_OPTION, WAIVE_OPTION, print_checklist, waivers_or_exit
from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import make_console
from slipway.cli.routes import checked
from slipway.cli.smoke_file import read_smoke_file
from slipway.core.canary_schedule import format_duration
from slipway.core.deployments import Strategy
from slipway.core.names import check_endpoint_text, check_label, check_name
from slipway.core.types import BackendKind

console: Console = make_console()


def deploy(
    version: str = typer.Argument(help="Version label, e.g. v2.2."),
    strategy: Strategy = typer.Option(Strategy.BLUEGREEN, "--strategy", help="bluegreen, canary or shadow."),
    slot: str | None = typer.Option(
        None, "--slot", help="Standby slot to load it into; default: the standby."
    ),
    endpoint: str | None = typer.Option(None, "--endpoint", help="Backend host:port or URL."),
    model: str | None = typer.Option(None, "--model", help="Model name at the backend."),
    kind: BackendKind | None = typer.Option(
        None, "--kind", help="Backend kind (default: the slot's, or openai)."
    ),
    adapter: str | None = typer.Option(None, "--adapter", help="LoRA adapter for the slot."),
    smoke: Path | None = typer.Option(None, "--smoke", help="Smoke cases (JSONL, 10-20 prompts)."),
    no_smoke: bool = typer.Option(False, "--no-smoke", help="Skip the smoke test on purpose."),
    no_switch: bool = typer.Option(False, "--no-switch", help="Stage and test only; switch later."),
    steps: str | None = typer.Option(
        None, "--steps", help="Canary: weight steps, e.g. 5%:2h,25%:4h,100% (default: the config's)."
    ),
    interval: str | None = typer.Option(
        None, "--interval", help="Canary: time between checks, e.g. 15m (default: the config's)."
    ),
    sample: str | None = typer.Option(
        None, "--sample", help="Shadow: share of requests mirrored, e.g. 100% (default: the config's)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Shadow: stop after N pairs or a time, e.g. 2000-pairs, 7d, or both."
    ),
    owner: str | None = OWNER_OPTION,
    waive: list[str] = WAIVE_OPTION,
    reason: list[str] = REASON_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Load VERSION into the standby slot, smoke-test it, run the checklist, then switch, ramp or mirror."""
    checked(version, check_label, "version")
    checked(owner, check_label, "owner")
    waivers = waivers_or_exit(waive, reason)
    checked(slot, check_name, "slot name")
    checked(endpoint, check_endpoint_text, "endpoint")
    checked(model, check_label, "model")
    checked(adapter, check_label, "adapter")
    smoke_text = read_smoke_file(smoke)
    body = {
        "version": version,
        "strategy": str(strategy),
        "slot": slot,
        "endpoint": endpoint,
        "model": model,
        "kind": str(kind) if kind else None,
        "adapter": adapter,
        "smoke_jsonl": smoke_text,
        "smoke_source": str(smoke) if smoke else "smoke.jsonl",
        "no_smoke": no_smoke,
        "switch": not no_switch,
        "steps": steps,
        "interval": interval,
        "sample": sample,
        "until": until,
        "owner": owner,
        "waivers": waivers,
    }
    with console.status(f"deploying {version} ({strategy})..."):
        out = AdminClient().post("/admin/deploy", json=body)
    dep = out["deployment"]
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    smoke_report = dep["detail"].get("smoke")
    if isinstance(smoke_report, dict):
        table = Table(title="smoke test")
        table.add_column("case")
        table.add_column("result")
        for case in smoke_report.get("cases", []):
            table.add_row(str(case.get("id")), "[green]pass[/]" if case.get("passed") else "[red]fail[/]")
        console.print(table)
        print_probe(smoke_report.get("adapter_probe"))
    report = dep["detail"].get("checklist")
    if isinstance(report, dict):
        print_checklist(report)
        loose = [i for i in report["items"] if i.get("status") == "fail" and not i.get("required")]
        if loose:
            console.print(
                f"[yellow]warning:[/] {len(loose)} checklist items failed that your config does not require "
                f"({escape(', '.join(str(i.get('item')) for i in loose))}); their fixes are above. Make them "
                "required once fixed (checklist.required: all in the config)."
            )
    if dep["detail"].get("checklist_note"):
        console.print(f"[yellow]warning:[/] {escape(str(dep['detail']['checklist_note']))}")
    for warning in dep["detail"].get("warnings") or []:
        console.print(f"[yellow]warning:[/] {warning}")
    if out.get("shadow"):
        run = out["shadow"]
        ends = f"{run['until_pairs']} pairs or " if run.get("until_pairs") else ""
        console.print(
            f"[green]shadow started:[/] {version} in slot {dep['slot']} gets a copy of "
            f"{run['sample_pct']:g}% of {run['production']}'s requests; users see only {run['production']}'s "
            f"answers. It stops after {ends}{format_duration(run['expires_at'] - run['started_at'])}. "
            "Follow it with `slipway shadow status`; read `slipway shadow report`."
        )
    elif out.get("canary") and out["canary"].get("kind") == "bake":
        console.print(
            f"[green]deployed {version}[/] in slot {dep['slot']} (was {dep['previous_slot']}); "
            f"route v{out['route_version']}. Baking: checked against {dep['previous_slot']}'s own traffic "
            f"before the switch {out['canary'].get('windows_text') or 'in its monitoring windows'}; a "
            f"rollback verdict switches back by itself. Follow it with `slipway bake watch`; "
            "`slipway rollback` goes back at once."
        )
        gaps = (dep["detail"].get("bake") or {}).get("reference_gaps") or []
        if gaps:
            console.print(
                f"[yellow]warning:[/] {escape(dep['previous_slot'])}'s traffic before the switch has too few "
                f"labels to judge {escape('; '.join(gaps))}. That window does not grow: this bake cannot end "
                "stable and will end inconclusive. Give the reference more time (bake.reference, e.g. 72h) "
                "or send more labels before the next switch."
            )
    elif out.get("canary"):
        c = out["canary"]
        console.print(
            f"[green]canary started:[/] {version} in slot {dep['slot']} at {c['weight_pct']:g}% "
            f"(phase 1/{c['phases']}, steps {','.join(c['steps'])}, "
            f"checks every {format_duration(c['interval_s'])}); "
            f"route v{out['route_version']}. Follow it with `slipway canary watch`."
        )
    elif dep["status"] == "live":
        console.print(
            f"[green]deployed {version}[/] in slot {dep['slot']} (was {dep['previous_slot']}); "
            f"route v{out['route_version']}. Roll back with `slipway rollback`."
        )
    else:
        console.print(
            f"{version} staged in slot {dep['slot']} ({dep['status']}); "
            f"switch with `slipway switch {dep['slot']}`"
        )


def print_probe(probe: object) -> None:
    """The adapter probe's lines under the smoke table; a failure in warn mode stands out as a warning."""
    if not isinstance(probe, dict) or not isinstance(probe.get("text"), str):
        return
    text = escape(probe["text"])
    if probe.get("outcome") == "failed":
        console.print(f"[yellow]warning:[/] {text}")
    else:
        console.print(text, highlight=False)
