"""Engines (llama-server processes) from config, and the ones deploys started, kept across restarts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from slipway.backends.engine.fleet import EngineSpec
from slipway.core.config import RoutingConfig
from slipway.core.errors import ConfigError
from slipway.registry.validate import open_base, validate_adapter

#: Engines started by deploys (adapters the configured engines had not loaded), as JSON.
DEPLOYED_ENGINES_META_KEY = "engines.deployed"


def engine_specs(config: RoutingConfig, base_dir: Path) -> dict[str, EngineSpec]:
    """Resolve each engine's files and validate every adapter against its base before launch.

    llama-server exits at start-up if one adapter is bad, taking the good ones
    with it, and never notices an adapter made for another base of the same
    shape; the registry's checks catch both, with the file and the fix named.
    """
    specs: dict[str, EngineSpec] = {}
    for name, engine in config.engines.items():
        base = (base_dir / engine.base).resolve()
        if not base.is_file():
            raise ConfigError(
                f"engines.{name}.base: {base} does not exist",
                hint="fix the path (relative paths are relative to the config file)",
                field=f"engines.{name}.base",
            )
        opened = open_base(base)
        adapters = tuple((base_dir / a).resolve() for a in engine.adapters)
        for adapter in adapters:
            validate_adapter(adapter, opened).raise_for_failure()
        specs[name] = EngineSpec(
            name=name,
            base=base,
            adapters=adapters,
            port=engine.port or None,
            ctx_size=engine.ctx_size,
            parallel=engine.parallel,
            args=tuple(engine.args),
        )
    return specs


def validate_for_engine(adapter: Path, base: Path) -> None:
    validate_adapter(adapter, open_base(base)).raise_for_failure()


def specs_to_json(specs: dict[str, EngineSpec]) -> str:
    return json.dumps(
        {
            name: {**asdict(spec), "base": str(spec.base), "adapters": [str(a) for a in spec.adapters]}
            for name, spec in specs.items()
        }
    )


def specs_from_json(text: str) -> dict[str, EngineSpec]:
    out: dict[str, EngineSpec] = {}
    for name, raw in json.loads(text).items():
        out[name] = EngineSpec(
            name=name,
            base=Path(raw["base"]),
            adapters=tuple(Path(a) for a in raw["adapters"]),
            port=raw.get("port"),
            ctx_size=raw["ctx_size"],
            parallel=raw["parallel"],
            args=tuple(raw.get("args", ())),
        )
    return out
