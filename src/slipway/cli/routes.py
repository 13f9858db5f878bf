"""Route commands against a running server: status, history, rollback, switch, reload, config."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from slipway.cli.client import URL_OPTION, AdminClient, err_console
from slipway.cli.drill_view import drill_status_line
from slipway.cli.output import make_console
from slipway.core.names import check_name, check_text

console: Console = make_console()


def _checklist_line(checklist: Any) -> None:
    """The latest pre-deployment checklist in one line (`slipway checklist VERSION` shows the items)."""
    if not isinstance(checklist, dict):
        return
    verdict = "[green]passed[/]" if checklist.get("passed") else "[red]failed[/]"
    waivers = f"; {escape(str(checklist['waivers']))}" if checklist.get("waivers") else ""
    console.print(
        f"last checklist: {escape(str(checklist.get('version')))} in {escape(str(checklist.get('slot')))} "
        f"{verdict} ({escape(str(checklist.get('summary')))}{waivers})"
    )


def status(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Slots, where traffic goes, recent traffic per slot, and the recorder's health."""
    data = AdminClient().get("/admin/status")
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    route = data["route"]
    console.print(
        f"[bold]route v{route['version']}[/]  active: [green]{route['active']}[/]"
        + (f"  previous: {route['previous_active']}" if route.get("previous_active") else "")
    )
    table = Table(show_lines=False)
    for col in ("slot", "state", "weight", "version", "endpoint", "kind", "req 5m", "err 5m"):
        # Versions and URLs have no spaces to wrap at: fold them rather than cut them to "custo…".
        table.add_column(col, overflow="fold")
    for slot in data["slots"]:
        state = "[green]active[/]" if slot["state"] == "active" else "standby"
        if slot.get("unloaded"):
            state = "standby, [yellow]unloaded[/]"
        table.add_row(
            slot["name"],
            state,
            f"{slot['weight_pct']:g}%",
            slot["version"],
            slot["endpoint"],
            slot["kind"],
            str(slot["requests_5m"]),
            str(slot["errors_5m"]),
        )
    console.print(table)
    for slot in data["slots"]:
        if slot.get("warning"):
            console.print(f"[yellow]warning:[/] slot {slot['name']}: {slot['warning']}")
        if slot.get("unloaded"):
            gone = slot["unloaded"]
            console.print(
                f"slot {escape(slot['name'])} unloaded by {escape(gone['by'])}: {escape(gone['released'])}; "
                f"`slipway load {escape(slot['name'])}` loads it again (a rollback to it does so by itself)"
            )
    _drift_line(data.get("drift"))
    _checklist_line(data.get("checklist"))
    drill_line = drill_status_line(data.get("drill"))
    if drill_line:
        console.print(drill_line)
    rec = data["recorder"]
    console.print(
        f"records: {rec['written']} written, {rec['pending']} pending, [bold]{rec['dropped']} dropped[/]"
        f", {rec['write_failures']} failed writes; in flight: {data['in_flight']}"
    )
    _print_recorder_health(rec)
    if data["config"].get("last_error"):
        console.print(f"[red]config rejected (running config kept):[/] {data['config']['last_error']}")
    if data["config"].get("not_applied"):
        console.print(f"[yellow]config file not applied:[/] {data['config']['not_applied']}")
    if data.get("replicas"):
        _print_replicas(data["replicas"])
    canary = data.get("canary")
    if canary and canary["status"] not in ("stable", "rolled_back", "aborted", "superseded"):
        console.print(
            f"canary: {canary['version']} {canary['status']} at {canary['weight_pct']:g}% "
            "(details: slipway canary status)"
        )
    shadow = data.get("shadow")
    if shadow and shadow["status"] == "running":
        m = shadow["mirror"]
        console.print(
            f"shadow: {shadow['version']} in {shadow['candidate']} gets {shadow['sample_pct']:g}% of requests"
            f" mirrored; {m['pairs']} pairs, {m['dropped']} copies dropped, {m['candidate_errors']}"
            " candidate errors (details: slipway shadow status)"
        )
    if data.get("last_deployment"):
        dep = data["last_deployment"]
        console.print(f"last deployment: {dep['version']} ({dep['status']}, id {dep['id']})")
    engines = data.get("engines") or {}
    if engines:
        # What keeping slots warm costs, per engine (slots on one engine share its memory).
        etable = Table(title="engines")
        for col in ("engine", "state", "pid", "restarts", "RSS MB", "adapters", "url"):
            etable.add_column(col, overflow="fold")
        for name, eng in engines.items():
            etable.add_row(
                name,
                "[green]ready[/]"
                if eng.get("ready")
                else ("[yellow]starting[/]" if eng["alive"] else "[red]down[/]"),
                str(eng["pid"]),
                str(eng["restarts"]),
                "-" if eng["rss_mb"] is None else f"{eng['rss_mb']:g}",
                ", ".join(eng["adapters"]) or "-",
                eng["url"],
            )
        console.print(etable)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def history(
    limit: int = typer.Option(50, help="How many changes, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    url: str | None = URL_OPTION,
) -> None:
    """Every route change: when, from -> to, by whom, why."""
    changes: list[dict[str, Any]] = AdminClient().get("/admin/history", params={"limit": limit})["changes"]
    if as_json:
        typer.echo(json.dumps(changes, indent=2))
        return
    table = Table()
    for col in ("v", "when", "kind", "from -> to", "by", "why"):
        table.add_column(col, overflow="fold")
    for c in changes:
        move = f"{c['from_active'] or '-'} -> {c['to_active']}"
        if c.get("to_weights"):
            move += " " + ", ".join(f"{k}:{v / 100:g}%" for k, v in c["to_weights"].items())
        # Who and why are people's own words: shown as written, never read as markup ("[ops-12]").
        table.add_row(str(c["version"]), _when(c["at"]), c["kind"], move, Text(c["actor"]), Text(c["reason"]))
    console.print(table)


FORCE_HELP = "Move traffic even if the target slot fails its readiness check (recorded in history)."


def _drift_line(drift: dict[str, Any] | None) -> None:
    """One line on the input mix against the active version's reference (nothing before the first check)."""
    if not drift:
        return
    version = escape(str(drift.get("version")))
    if drift.get("state") == "building":
        have, need = drift.get("reference_requests", 0), drift.get("reference_needed", 0)
        console.print(f"input drift: making {version}'s reference ({have:,} of {need:,} requests)")
        return
    if drift.get("state") == "no reference":
        console.print(
            f"input drift: no reference for {version}: {escape(str(drift.get('reference_missing')))}"
        )
        return
    name = escape(str(drift.get("reference_name") or f"{drift.get('version')}'s reference"))
    dims = drift.get("dimensions") or []
    moved = [escape(str(d.get("words"))) for d in dims if d.get("drifted")]
    judged = [escape(str(d.get("dimension"))) for d in dims if d.get("judged", True)]
    suite = f" ({escape(str(drift['reference_suite']))})" if drift.get("reference_suite") else ""
    if moved:
        console.print(f"[yellow]input drift since {name}{suite}:[/] " + "; ".join(moved))
    else:
        looked = ", ".join(judged) or "nothing"
        console.print(f"input drift: none since {name}{suite} ({looked} judged)")
    # Dimensions without enough requests (inputs not kept, or too few yet), grouped by the reason.
    unjudged: dict[str, list[str]] = {}
    for d in dims:
        if d.get("unjudged"):
            unjudged.setdefault(str(d["unjudged"]), []).append(str(d.get("dimension")))
    for why, names in unjudged.items():
        console.print(f"  not judged: {escape(', '.join(names))}: {escape(why)}")


def checked(value: str | None, check: Callable[[str, str], str], what: str) -> str | None:
    """The server's own rule for names and labels, applied before anything is sent."""
    if value is None:
        return None
    try:
        return check(value, what)
    except ValueError as exc:
        err_console.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


def describe_move(out: dict[str, Any]) -> str:
    """`blue -> green`, from the change the server committed, or what it did when nothing moved."""
    src, dst = out["from"], out["to"]
    if not out["changed"]:
        return f"{dst} already was the active slot with all traffic: nothing changed"
    if src == dst:
        split = ", ".join(f"{k} {v:g}%" for k, v in (out.get("from_weights_pct") or {}).items())
        return f"{dst} already was the active slot; the split ({split or 'none'}) ended: all traffic to {dst}"
    return f"{src} -> [green]{dst}[/]"


def _forced(out: dict[str, Any]) -> None:
    reason = str(out.get("reason") or "")
    if "forced past the readiness check" in reason:
        console.print(f"[yellow]warning:[/] {escape(reason.split('; ', 1)[-1])}", highlight=False)


def rollback(
    to: str | None = typer.Option(None, "--to", help="Slot to switch to; default: the previous active slot."),
    reason: str = typer.Option("manual rollback", "--reason", "-r", help="Recorded in history."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    url: str | None = URL_OPTION,
) -> None:
    """Switch traffic back, at once. In-flight requests finish where they started."""
    checked(to, check_name, "slot name")
    checked(reason, check_text, "reason")
    t0 = time.perf_counter()
    out = AdminClient().post("/admin/rollback", json={"to": to, "reason": reason, "force": force})
    ms = (time.perf_counter() - t0) * 1000
    console.print(f"rolled back: {describe_move(out)} (route v{out['route_version']}, {ms:.0f} ms)")
    _forced(out)


def switch(
    slot: str = typer.Argument(help="Slot that takes all traffic."),
    reason: str = typer.Option("manual switch", "--reason", "-r", help="Recorded in history."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    url: str | None = URL_OPTION,
) -> None:
    """Send all traffic to SLOT (no smoke test; use `deploy` for that)."""
    checked(slot, check_name, "slot name")
    checked(reason, check_text, "reason")
    out = AdminClient().post("/admin/switch", json={"to": slot, "reason": reason, "force": force})
    console.print(f"switched: {describe_move(out)} (route v{out['route_version']})")
    _forced(out)


def reload(
    force: bool = typer.Option(
        False, "--force", help="Apply the file even if a slot it sends traffic to is not ready (recorded)."
    ),
    url: str | None = URL_OPTION,
) -> None:
    """Re-read the config file now (it is also watched)."""
    out = AdminClient().post("/admin/reload", json={"force": force})
    if out["applied"]:
        console.print(f"config applied: route v{out['route_version']}, active {out['active']}")
    else:
        console.print(f"nothing applied: {out['reason']}")


def export_config(
    url: str | None = URL_OPTION,
) -> None:
    """Print the running routes as YAML (the file is an input and an export)."""
    typer.echo(AdminClient().get("/admin/config", expect="text"), nl=False)


def _print_recorder_health(rec: dict[str, Any]) -> None:
    """What an operator must act on: a writer that stopped, records lost or changed, a killed run."""
    if not rec.get("alive", True):
        console.print("[red]the record writer is not running: requests are answered but not recorded[/]")
    if rec.get("store_unavailable_since") is not None:
        console.print(f"[red]the store is not accepting records; retrying:[/] {rec.get('last_error')}")
    lost = {reason: n for reason, n in (rec.get("lost") or {}).items() if n and reason != "queue_full"}
    if lost or rec.get("sanitised"):
        parts = [f"{n} lost ({reason.replace('_', ' ')})" for reason, n in sorted(lost.items())]
        if rec.get("sanitised"):
            parts.append(f"{rec['sanitised']} stored with values cut to fit")
        console.print(f"[yellow]records:[/] {', '.join(parts)}; last error: {rec.get('last_error')}")
    previous = rec.get("previous_run")
    if previous and not previous.get("clean", True):
        console.print(
            "[yellow]the previous run did not stop cleanly[/] (killed or crashed): about "
            f"{previous.get('probably_lost', 0)} request records probably lost "
            f"({previous.get('unwritten_at_last_write', 0)} were unwritten at its last write)"
        )


def _print_replicas(replicas: dict[str, Any]) -> None:
    """One line when this process is the only replica; else every live replica, and who leads."""
    live, leader = replicas["live"], replicas["leader"]
    if len(live) <= 1 and leader["this_replica"]:
        return
    now = time.time()
    table = Table(title=f"replicas (leader: {leader['id'] or 'none yet'}, epoch {leader['epoch']})")
    for col in ("replica", "role", "route v", "last beat", "up", "records queued", "dropped"):
        table.add_column(col, overflow="fold")
    for r in live:
        role = "[green]leader[/]" if r["leader"] else "follower"
        table.add_row(
            r["id"] + (" (this one)" if r["id"] == replicas["this"] else ""),
            role,
            str(r["route_version"]),
            f"{max(0.0, now - r['heartbeat_at']):.1f} s ago",
            f"{max(0.0, now - r['started_at']):.0f} s",
            str(r["records_queued"]),
            str(r["records_dropped"]),
        )
    console.print(table)
