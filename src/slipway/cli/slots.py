"""`slipway unload SLOT` and `slipway load SLOT`: a standby slot's memory, given back and taken again."""

from __future__ import annotations

import typer
from rich.markup import escape

from slipway.cli.client import URL_OPTION, AdminClient
from slipway.cli.output import make_console
from slipway.cli.routes import checked
from slipway.core.names import check_name, check_text

console = make_console()


def unload(
    slot: str = typer.Argument(help="Standby slot whose model is unloaded from its server."),
    reason: str = typer.Option("unloaded by an operator", "--reason", "-r", help="Recorded and notified."),
    url: str | None = URL_OPTION,
) -> None:
    """Unload a standby slot's model (its files are kept; the slot stays in the routes).

    Refused while the slot carries or mirrors traffic, or a running canary,
    bake or shadow run needs it. A rollback or switch to it loads it first.
    """
    checked(slot, check_name, "slot name")
    checked(reason, check_text, "reason")
    out = AdminClient().post(f"/admin/slots/{slot}/unload", json={"reason": reason})
    done = out["unloaded"]
    console.print(f"unloaded {escape(slot)} ({escape(done['version'])}): {escape(done['released'])}")


def load(
    slot: str = typer.Argument(help="Slot whose model is loaded again."),
    url: str | None = URL_OPTION,
) -> None:
    """Load a slot's model again, e.g. before a drill (a rollback to it does this by itself)."""
    checked(slot, check_name, "slot name")
    out = AdminClient().post(f"/admin/slots/{slot}/load", json={})
    console.print(f"loaded {escape(slot)}: {escape(out['loaded'])}")
