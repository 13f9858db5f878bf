"""Composition root: the only package that builds concrete adapters and wires them to the ports.

`slipway serve` runs one process with the gateway (hot path), the admin API
and the config watcher, or several (`--workers`), each a replica of the
others on one store. Each module here has one job: `settings` (what the
command line says), `config_file` (the file read into a typed value),
`apply` (applying it), `engines` (llama-server specs kept across restarts),
`clock`, `watch`, `shadow` (shadow mode wired), `replica` (heartbeat and the
leader's lease), `runtime` (what the process owns, started and stopped in
order), `started`, `serve` and `workers` (the supervisor of `--workers N`).
"""

from slipway.app.config_file import LoadedConfig, canary_analysis, read_config_file
from slipway.app.engines import engine_specs
from slipway.app.runtime import Runtime
from slipway.app.serve import create_app, serve
from slipway.app.settings import ServeSettings, check_admin_exposure, is_loopback

__all__ = [
    "LoadedConfig",
    "Runtime",
    "ServeSettings",
    "canary_analysis",
    "check_admin_exposure",
    "create_app",
    "engine_specs",
    "is_loopback",
    "read_config_file",
    "serve",
]
