"""The one CLI for everything an operator does."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

import typer

from slipway.cli import (
    adapters,
    canary,
    deploy,
    drill,
    evals,
    notify,
    postmortem,
    routes,
    serve,
    shadow,
    slots,
)
from slipway.cli.checklist import checklist
from slipway.cli.client import answered_by, err_console, say_not_slipway
from slipway.cli.demo import demo
from slipway.cli.engine import engine_app
from slipway.cli.output import example
from slipway.cli.plan import plan
from slipway.cli.sim import sim_app

app = typer.Typer(
    name="slipway",
    help="Progressive delivery for fine-tuned LLMs: blue-green, canary, shadow; rollback in under a second.",
    epilog=(
        "Try it: `./scripts/demo`. Commands that talk to a running gateway take --url "
        "(default: $SLIPWAY_URL, else http://127.0.0.1:8080) and the token in $SLIPWAY_ADMIN_TOKEN."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command(epilog=example("slipway serve --config slipway.yaml --port 8080"))(serve.serve)
app.command(epilog=example("slipway status --url http://127.0.0.1:8080"))(routes.status)
app.command(epilog=example("slipway history --limit 10"))(routes.history)
app.command(epilog=example('slipway rollback --reason "billing accuracy fell"'))(routes.rollback)
app.command(epilog=example('slipway switch green --reason "v2.2 passed review"'))(routes.switch)
app.command(epilog=example("slipway reload"))(routes.reload)
app.command(epilog=example('slipway unload blue --reason "v2.2 stable for a week"'))(slots.unload)
app.command(epilog=example("slipway load blue"))(slots.load)
app.command(epilog=example("slipway notifications --limit 20"))(notify.notifications)
app.command(
    epilog=example(
        "slipway deploy v2.2 --strategy canary --slot green --endpoint localhost:11435 "
        "--model customer-support-v2.2 --smoke examples/smoke/support-smoke.jsonl"
    )
)(deploy.deploy)
app.command(epilog=example('slipway checklist v2.2 --slot green --owner "ana (on call)" --announce'))(
    checklist
)
app.command(epilog=example("slipway demo --strategy bluegreen"))(demo)
app.command()(plan)
app.command(epilog=example("slipway postmortem --html postmortem.html"))(postmortem.postmortem)
app.command(epilog=example("slipway deployments --limit 5"))(postmortem.deployments)
config_app = typer.Typer(help="The routing configuration.", no_args_is_help=True)
config_app.command("export", epilog=example("slipway config export > slipway.yaml"))(routes.export_config)
app.add_typer(config_app, name="config")
app.add_typer(adapters.adapters_app, name="adapters")
app.add_typer(canary.canary_app, name="canary")
app.add_typer(canary.bake_app, name="bake")
app.add_typer(shadow.shadow_app, name="shadow")
app.add_typer(postmortem.regressions_app, name="regressions")
app.add_typer(drill.drill_app, name="drill", epilog=example("slipway drill --smoke smoke.jsonl"))
app.add_typer(notify.notify_app, name="notify")
app.add_typer(evals.eval_app, name="eval")
app.add_typer(engine_app, name="engine")
app.add_typer(sim_app, name="sim", help="slipway's simulated model server, for drills and demos.")


# The canary verbs used to be top level; they live under `slipway canary` now, like the shadow
# verbs under `slipway shadow`. The old spellings keep working, unlisted, for one more release.
def _old_spelling(verb: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(verb)
    def run(*args: Any, **kwargs: Any) -> None:
        err_console.print(
            f"note: `slipway {verb.__name__}` is now `slipway canary {verb.__name__}`; "
            "the old spelling will be removed in the next release",
            highlight=False,
            markup=False,
        )
        verb(*args, **kwargs)

    return run


for _verb in (canary.promote, canary.abort, canary.pause, canary.resume):
    app.command(hidden=True)(_old_spelling(_verb))


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
