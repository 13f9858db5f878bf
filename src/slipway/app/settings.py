"""What one `slipway serve` is told on its command line, and the refusal to expose the admin API bare."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from slipway.core.bearer import FEEDBACK_TOKEN, secret_problem
from slipway.core.errors import ConfigError
from slipway.core.ports import Clock
from slipway.store.database import default_store_url
from slipway.web.auth import token_problem


@dataclass(frozen=True)
class ServeSettings:
    config_path: Path | None = None
    store_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    #: When set, `/v1/feedback` takes labels only from clients that send it (or the admin token).
    feedback_token: str | None = None
    watch_config: bool = True
    workdir: Path = Path(".")
    #: The control loop's clock; default: real time, or SLIPWAY_CLOCK_SCALE times faster.
    clock: Clock | None = None
    #: Names clients use for this server besides localhost, IPs and `host` (--allowed-host).
    allowed_hosts: tuple[str, ...] = ()
    #: How often the committed route version is read, to follow other replicas' changes.
    route_poll_s: float = 1.0
    #: Also listen for PostgreSQL's route notifications (off: poll only).
    route_notifications: bool = True
    #: At start, apply the config file's routes even if the store serves other ones (--apply-config).
    apply_config_at_start: bool = False
    #: Which of `serve --workers N`'s processes this is (1..N), None when serve runs one process.
    worker: int | None = None

    def instance(self) -> str:
        """This process among those a host runs on the port: the same again after a restart."""
        name = f"{socket.gethostname()}:{self.port}"
        return name if self.worker is None else f"{name}/w{self.worker}"

    def resolved_store_url(self) -> str:
        return self.store_url or default_store_url(self.workdir)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_admin_exposure(settings: ServeSettings) -> None:
    """Refuse secrets no client could send, and an admin API open beyond this machine."""
    for problem in (
        token_problem(settings.admin_token),
        secret_problem(settings.feedback_token, FEEDBACK_TOKEN),
    ):
        if problem is not None:
            raise problem
    if not settings.admin_token and not is_loopback(settings.host):
        raise ConfigError(
            f"refusing to serve the admin API on {settings.host} without a token",
            hint="set SLIPWAY_ADMIN_TOKEN to a long random secret, or bind to 127.0.0.1",
        )
