"""`slipway serve`: gateway, admin API and control loop in one process."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import typer
from rich.console import Console

from slipway.cli.output import make_console
from slipway.core.errors import SlipwayError
from slipway.core.hosts import host_name_problem, normal_name

console: Console = make_console(stderr=True)

#: How the parent of `--workers N` runs each worker: this CLI again, under this interpreter.
WORKER_ARGV = (sys.executable, "-m", "slipway.cli.main", "serve")


def serve(
    config: Path | None = typer.Option(
        None, "--config", "-c", help="Routing YAML (a plain model_routing.yaml works as-is)."
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8080, help="Port for the gateway and the admin API."),
    store: str | None = typer.Option(
        None,
        "--store",
        envvar="SLIPWAY_STORE",
        help="Store URL; default sqlite under ./.slipway/ (postgresql+psycopg://... for replicas). "
        "From SLIPWAY_STORE if not given, which keeps a database password out of the process list.",
    ),
    no_watch: bool = typer.Option(False, "--no-watch", help="Do not apply config file edits automatically."),
    apply_config: bool = typer.Option(
        False,
        "--apply-config",
        help="Apply the config file's routes at start even if the store already serves other routes "
        "(by default the store's routes are kept, and the differences are logged and shown by status).",
    ),
    allowed_host: list[str] = typer.Option(
        [],
        "--allowed-host",
        metavar="NAME",
        help="A name clients use for this server (a load balancer's DNS name), besides localhost, IP "
        "addresses and --host; repeatable. The admin API and the dashboard refuse other Host headers.",
    ),
    route_poll: float = typer.Option(
        1.0,
        "--route-poll",
        min=0.05,
        max=60.0,
        metavar="SECONDS",
        help="How often this replica reads the store's route version, to follow changes other replicas "
        "commit (on PostgreSQL, notifications usually bring them sooner).",
    ),
    no_route_notify: bool = typer.Option(
        False,
        "--no-route-notify",
        help="Follow other replicas' route changes by polling only (no PostgreSQL notifications).",
    ),
    workers: int = typer.Option(
        1,
        "--workers",
        min=1,
        max=512,
        metavar="N",
        help="Gateway processes serving this port (one per core uses them all); each is a replica "
        "of its own on the store. Not with a config that runs engines.",
    ),
    worker_of: str | None = typer.Option(None, "--worker-of", hidden=True),
    log_level: str = typer.Option("info", help="debug, info, warning or error."),
) -> None:
    """Run the gateway (OpenAI and Ollama APIs), the admin API and the control loop."""
    from slipway.app import ServeSettings, check_admin_exposure
    from slipway.app import serve as run
    from slipway.app.workers import WorkerSpec, log_format, serve_workers

    try:
        worker = WorkerSpec.parse(worker_of) if worker_of is not None else None
    except SlipwayError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if worker is not None:
        fmt = log_format(worker.number)  # [wN]
    elif workers > 1:
        fmt = log_format(None)  # [main]: the parent, which only supervises
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=log_level.upper(), format=fmt)
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
    if config is not None and not config.exists():
        console.print(
            f"[red]error:[/] config file {config} does not exist; pass the path of your routing YAML"
        )
        raise typer.Exit(2)
    for name in allowed_host:
        problem = host_name_problem(name)
        if problem:
            console.print(f"[red]error:[/] --allowed-host: {problem}")
            raise typer.Exit(2)
    settings = ServeSettings(
        config_path=config,
        store_url=store,
        host=host,
        port=port,
        admin_token=os.environ.get("SLIPWAY_ADMIN_TOKEN") or None,
        feedback_token=os.environ.get("SLIPWAY_FEEDBACK_TOKEN") or None,
        watch_config=not no_watch,
        workdir=Path.cwd(),
        allowed_hosts=tuple(normal_name(n) for n in allowed_host),
        route_poll_s=route_poll,
        route_notifications=not no_route_notify,
        apply_config_at_start=apply_config,
    )
    try:
        check_admin_exposure(settings)
    except SlipwayError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    if worker is None:
        console.print(
            f"slipway starting on http://{host}:{port} (OpenAI: /v1, Ollama: /api, admin: /admin, "
            f"docs: /docs){f' with {workers} workers' if workers > 1 else ''}"
        )
    try:
        if workers > 1 and worker is None:
            options = ["--host", host, "--port", str(port)]
            options += ["--config", str(config)] if config is not None else []
            # From the environment, the workers inherit it: not on their command lines.
            given = store is not None and store != os.environ.get("SLIPWAY_STORE")
            options += ["--store", store] if given and store is not None else []
            options += ["--no-watch"] if no_watch else []
            options += ["--apply-config"] if apply_config else []
            for name in allowed_host:
                options += ["--allowed-host", name]
            options += ["--route-poll", repr(route_poll)]
            options += ["--no-route-notify"] if no_route_notify else []
            options += ["--log-level", log_level]

            def worker_command(spec: WorkerSpec) -> list[str]:
                """This command again, as one worker: the same options, and which worker it is."""
                return [*WORKER_ARGV, *options, "--worker-of", spec.to_arg()]

            code = serve_workers(settings, workers, worker_command)
            if code:
                raise typer.Exit(code)
            return
        run(settings, worker)
    except SlipwayError as exc:
        who = f"worker {worker.number}: " if worker is not None else ""
        console.print(f"[red]error:[/] {who}slipway did not start: {exc}")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
