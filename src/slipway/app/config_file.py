"""The config file, read once per change into a typed value the rest of the process can trust.

Every reading of the file ends in a `LoadedConfig` or a ConfigError: the
judge's threshold table and output checks are built while reading, so a bad
`canary:` section is refused with the file, not when the first canary is
judged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError as PydanticValidationError

from slipway.analysis.output_checks import OutputCheck, OutputChecksConfig, build_checks
from slipway.analysis.thresholds import DEFAULT_THRESHOLDS, Thresholds
from slipway.core.config import RoutingConfig, parse_config
from slipway.core.config_yaml import read_config_text
from slipway.core.errors import ConfigError
from slipway.rollout.analysis_judge import thresholds_from

#: The digest of the last applied file: the same file again changes nothing.
CONFIG_META_KEY = "config.sha256"
#: The last applied file itself: engines come back from it when the file is broken at a restart.
CONFIG_TEXT_META_KEY = "config.text"

_T = TypeVar("_T")


@dataclass(frozen=True)
class LoadedConfig:
    """One reading of the file: the config, the judge's table and checks built from it, and its text."""

    routing: RoutingConfig
    thresholds: Thresholds
    output_checks: tuple[OutputCheck, ...]
    text: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()


def _canary_part(name: str, source: str | None, read: Callable[[], _T]) -> _T:
    try:
        return read()
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(["canary", name, *(str(p) for p in err["loc"])])
        raise ConfigError(
            str(err["msg"]).removeprefix("Value error, "),
            hint="see docs/config.md (canary) for the fields and their defaults",
            source=source,
            field=where,
        ) from None


def canary_analysis(
    config: RoutingConfig | None, source: str | None = None
) -> tuple[Thresholds, tuple[OutputCheck, ...]]:
    """The judge's threshold table and output checks from `canary:` (the customary defaults without it)."""
    if config is None:
        return DEFAULT_THRESHOLDS, build_checks()
    canary = config.canary
    thresholds = _canary_part("thresholds", source, lambda: thresholds_from(canary.thresholds))
    checks = _canary_part(
        "output_checks", source, lambda: OutputChecksConfig.model_validate(canary.output_checks)
    )
    return thresholds, build_checks(checks)


def load_config(text: str, source: str) -> LoadedConfig:
    """Parse and validate `text`; any text at all ends in a LoadedConfig or a ConfigError."""
    config = parse_config(text, source)
    try:
        thresholds, checks = canary_analysis(config, source)
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(
            f"canary: {type(exc).__name__}: {exc}", hint="see docs/config.md (canary)", source=source
        ) from exc
    return LoadedConfig(routing=config, thresholds=thresholds, output_checks=checks, text=text)


def read_config_file(path: Path) -> LoadedConfig:
    """Read, parse and validate the file; blocking, so the running gateway calls it in a thread.

    read_config_text and parse_config bound size, nesting and aliases, so no
    file can end in another exception that would stop the watcher or turn a
    reload into a 500.
    """
    return load_config(read_config_text(path), str(path))
