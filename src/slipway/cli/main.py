"""The one CLI for everything an operator does (OP1)."""

from __future__ import annotations

import sys

import typer

from slipway.cli import adapters, canary, deploy, routes, serve, shadow
from slipway.cli.client import answered_by, say_not_slipway
from slipway.cli.demo import demo
from slipway.cli.engine import engine_app
from slipway.cli.plan import plan
from slipway.cli.sim import sim_app

app = typer.Typer(
    name="slipway",
    help="Progressive delivery for fine-tuned LLMs: blue-green, canary, shadow; rollback in under a second.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(serve.serve)
app.command()(routes.status)
app.command()(routes.history)
app.command()(routes.rollback)
app.command()(routes.switch)
app.command()(routes.reload)
app.command()(deploy.deploy)
app.command()(canary.promote)
app.command()(canary.abort)
app.command()(canary.pause)
app.command()(canary.resume)
app.command()(demo)
app.command()(plan)
config_app = typer.Typer(help="The routing configuration.", no_args_is_help=True)
config_app.command("export")(routes.export_config)
app.add_typer(config_app, name="config")
app.add_typer(adapters.adapters_app, name="adapters")
app.add_typer(canary.canary_app, name="canary")
app.add_typer(shadow.shadow_app, name="shadow")
app.add_typer(engine_app, name="engine")
app.add_typer(sim_app, name="sim", help="slipway's simulated model server, for drills and demos.")


def main() -> None:
    try:
        app()
    except (TypeError, KeyError, AttributeError, IndexError, ValueError) as exc:
        # A JSON answer of the wrong shape deep inside a command (a field that is null, a list
        # for an object): the server is not the slipway this CLI talks to. One sentence, no traceback.
        url = answered_by()
        if url is None:
            raise
        say_not_slipway(url, f"its answer does not have the shape of slipway's ({exc})")
        sys.exit(2)


if __name__ == "__main__":
    main()
