"""Given/When/Then building blocks for gateway tests: sim backends and a live slipway on loopback.

Everything here is real: sim model servers and slipway itself run under
uvicorn on 127.0.0.1, with a SQLite store in the test's temporary directory.
"""

from __future__ import annotations

import contextlib
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tests.servers import run_asgi

from slipway.app import Runtime, ServeSettings, create_app
from slipway.backends.sim import create_sim_app
from slipway.backends.sim.profile import parse_profile
from slipway.core.ports import Clock

if TYPE_CHECKING:
    from slipway.demo.tiny_model import TinyModelPaths


def sim_profile(
    model: str,
    version: str,
    *,
    accuracy: float = 1.0,
    output_tokens: int = 1,
    stream_interval_ms: float = 0,
    extra: str = "",
) -> str:
    """A fast, exact classifier profile; `extra` adds YAML (e.g. a failing category)."""
    return textwrap.dedent(
        f"""\
        model: {model}
        version: {version}
        default:
          labels: [billing, account, shipping, technical]
          accuracy: {accuracy}
          latency_ms: 1
          output_tokens: {output_tokens}
          stream_interval_ms: {stream_interval_ms}
        categories:
          billing: {{keywords: [refund, invoice]}}
          shipping: {{keywords: [parcel, delivery]}}
        """
    ) + textwrap.dedent(extra)


@contextlib.contextmanager
def sim_backend(profile_text: str, seed: int = 0, port: int = 0) -> Iterator[str]:
    with run_asgi(create_sim_app(parse_profile(profile_text), seed=seed), port=port) as url:
        yield url


def routing_yaml(blue_url: str, green_url: str, active: str = "blue", extra: str = "") -> str:
    return textwrap.dedent(
        f"""\
        name: customer-support
        active_slot: {active}
        slots:
          blue: {{model: customer-support-v2.1, endpoint: "{blue_url}", kind: sim}}
          green: {{model: customer-support-v2.2, endpoint: "{green_url}", kind: sim}}
        """
    ) + textwrap.dedent(extra)


@dataclass
class Gateway:
    url: str
    runtime: Runtime
    config_path: Path
    #: Clients a test opened; closed before the server stops (no ResourceWarnings).
    closers: list[Callable[[], object]] = field(default_factory=list)


@contextlib.contextmanager
def live_gateway(
    workdir: Path,
    config_text: str | None,
    *,
    token: str | None = None,
    watch: bool = True,
    config_name: str = "slipway.yaml",
    clock: Clock | None = None,
    store_url: str | None = None,
    port: int | None = None,
) -> Iterator[Gateway]:
    """`store_url`: another store than the SQLite file in `workdir` (a PostgreSQL test schema).

    `port`: serve there and tell the runtime so (its replica heartbeat names its own address, which
    a drill sends its requests to); by default any free port, which the runtime does not know.
    """
    config_path = workdir / config_name
    if config_text is not None:
        config_path.write_text(config_text)
    settings = ServeSettings(
        config_path=config_path if config_path.exists() else None,
        store_url=store_url or f"sqlite:///{workdir / 'state' / 'slipway.db'}",
        admin_token=token,
        watch_config=watch,
        workdir=workdir,
        clock=clock,
        port=port if port is not None else ServeSettings.port,
    )
    app, runtime = create_app(settings)
    with run_asgi(app, lifespan="on", port=port or 0) as url:
        gw = Gateway(url=url, runtime=runtime, config_path=config_path)
        try:
            yield gw
        finally:
            for close in gw.closers:
                close()


def tiny_engine_yaml(
    models: TinyModelPaths, *, green: str = "v2.1", active: str = "blue", extra: str = ""
) -> str:
    """The tiny model on one engine with both adapters; blue serves v2.1, green `green`.

    `extra` adds top-level sections (notify, shadow, ...), written unindented.
    """
    head = textwrap.dedent(
        f"""\
        name: customer-support
        engines:
          support:
            base: {models.base}
            adapters: [{models.v2_1}, {models.v2_2}]
            ctx_size: 512
        """
    )
    tail = textwrap.dedent(
        f"""\
        active_slot: {active}
        slots:
          blue: {{model: customer-support-v2.1, engine: support, adapter: v2.1}}
          green: {{model: customer-support-{green}, engine: support, adapter: {green}}}
        """
    )
    return head + textwrap.dedent(extra) + tail
