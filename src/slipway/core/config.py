"""The routing file: its top-level model, parsing it with errors that name line and field, and export.

Two shapes are accepted. The original `model_routing.yaml`, verbatim:

    active_slot: "green"
    blue:  {model: "customer-support-v2.1", endpoint: "localhost:11434"}
    green: {model: "customer-support-v2.2", endpoint: "localhost:11435"}

and slipway's own, where slots live under `slots:` and may say more (backend
kind, API key variable, adapter, timeouts, upstream model name). Any other
top-level mapping that has an `endpoint` is taken as a slot, which is what
makes that original file load as written.

The sections have their own modules: `slot_config` (slots and engines),
`gateway_config`, `shadow_config`; the `canary:` and `notify:` sections are
here. Reading the file and its YAML safely is `config_yaml`; turning a
validation error into one that points at the file is `config_errors`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from slipway.core.adapter_probe_config import AdapterProbeConfig
from slipway.core.canary_schedule import (
    DEFAULT_GUARD_INTERVAL,
    DEFAULT_HOLD_LIMIT,
    DEFAULT_INTERVAL,
    DEFAULT_STEPS,
    DEFAULT_WINDOWS,
    CanarySchedule,
    InconclusivePolicy,
    parse_duration,
    parse_guard_interval,
    parse_steps,
    parse_windows,
)
from slipway.core.checklist_config import ChecklistConfig
from slipway.core.config_errors import check_finite, invalid_field
from slipway.core.config_yaml import _line_map, load_yaml
from slipway.core.drift_config import DriftConfig
from slipway.core.email_config import EmailConfig
from slipway.core.errors import ConfigError, NotFoundError
from slipway.core.gateway_config import GatewayConfig
from slipway.core.lora import ENGINE_SCHEME, is_engine_endpoint, match_adapter
from slipway.core.names import EngineName, EnvName, Label, SlotName, check_endpoint_text
from slipway.core.numbers import Range
from slipway.core.shadow_config import ShadowConfig
from slipway.core.slot_config import EngineConfig, SlotConfig
from slipway.core.types import WEIGHT_SCALE, RouteTable


class CanaryConfig(BaseModel):
    """Defaults for `slipway deploy --strategy canary` (flags given to the deploy win)."""

    model_config = ConfigDict(extra="forbid")

    steps: str | list[str] = Field(
        DEFAULT_STEPS, description="Weight steps, e.g. 5%:2h,25%:4h,100% (or the same as a list)."
    )
    interval: str = Field(DEFAULT_INTERVAL, description="Time between automated checks.")
    inconclusive: InconclusivePolicy = Field(
        InconclusivePolicy.ROLLBACK, description="What an inconclusive phase end does."
    )
    hold_limit: str = Field(DEFAULT_HOLD_LIMIT, description="Longest hold before it rolls back.")
    monitor: bool = Field(True, description="Run the post-promotion monitoring windows.")
    windows: str | list[str] = Field(
        DEFAULT_WINDOWS,
        description="The monitoring windows after promotion, each UNTIL every EVERY, e.g. "
        "1h every 5m, 24h every 30m, 7d every 1d (or the same as a list); the last one's end is stable.",
    )
    guard_interval: str = Field(
        DEFAULT_GUARD_INTERVAL,
        description="Guard checks between the scheduled ones, acting only on a rollback; 0/off = none.",
    )
    thresholds: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the canary's default threshold table (analysis.thresholds).",
    )
    output_checks: dict[str, Any] = Field(
        default_factory=dict, description="Which output checks feed the invalid-output rate."
    )

    @field_validator("steps")
    @classmethod
    def _steps(cls, value: str | list[str]) -> str | list[str]:
        try:
            parse_steps(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("interval", "hold_limit")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: str | list[str]) -> str | list[str]:
        try:
            parse_windows(value, what="canary.windows")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("guard_interval", mode="before")
    @classmethod
    def _guard(cls, value: object) -> str:
        text = str(value)
        try:
            parse_guard_interval(text)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return text

    def schedule(self, steps: str | None = None, interval: str | None = None) -> CanarySchedule:
        return CanarySchedule.parse(
            steps if steps is not None else self.steps,
            interval if interval is not None else self.interval,
            inconclusive=self.inconclusive,
            hold_limit=self.hold_limit,
            monitor=self.monitor,
            guard_interval=self.guard_interval,
            windows=self.windows,
        )


class BakeConfig(BaseModel):
    """The watch after a blue-green switch: the canary's monitoring windows, without a ramp before them."""

    model_config = ConfigDict(extra="forbid")

    after_switch: bool = Field(
        True,
        description="Bake every blue-green deploy once it switched: checks on `windows`; a rollback verdict "
        "switches back by itself.",
    )
    windows: str | list[str] = Field(
        DEFAULT_WINDOWS,
        description="The bake's monitoring windows after the switch, each UNTIL every EVERY, e.g. "
        "1h every 5m, 24h every 30m, 7d every 1d (or the same as a list); the last one's end is stable.",
    )
    reference: str = Field(
        "24h",
        description="How far back before the switch the old version's own traffic is read as the "
        "reference (shorter if it served all traffic for less time).",
    )

    unload_when_stable: bool = Field(
        False,
        description="When a bake ends stable (clean to its last window), unload the previous version from "
        "the standby slot (its files are kept; `slipway load SLOT` brings it back). "
        "Off: `slipway unload SLOT` does it.",
    )

    @field_validator("reference")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value, what="bake.reference")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("windows")
    @classmethod
    def _windows(cls, value: str | list[str]) -> str | list[str]:
        try:
            parse_windows(value, what="bake.windows")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    def reference_s(self) -> float:
        return parse_duration(self.reference, what="bake.reference")

    def schedule(self, base: CanarySchedule) -> CanarySchedule:
        """`base` (the canary's schedule) with the bake's own monitoring windows."""
        return replace(base, windows=parse_windows(self.windows, what="bake.windows"))


class NotifyConfig(BaseModel):
    """Where notifications go: phase transitions, halts, promotions, rollbacks."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[str] = Field(
        default_factory=list, description="URLs that receive Slack-compatible JSON (POST)."
    )
    timeout_s: Annotated[float, Range(0, 300, low_open=True, unit="seconds")] = Field(
        5.0, description="Longest wait for one webhook attempt."
    )
    retries: Annotated[int, Range(0, 10)] = Field(3, description="Extra attempts after a failed delivery.")
    backoff_s: Annotated[float, Range(0, 600, unit="seconds")] = Field(
        1.0, description="Pause before the first retry; it doubles before each next one."
    )
    retry_for: str = Field(
        "1h",
        description="How long a notification that a sink refuses or does not answer is retried (pauses "
        "double up to a minute; later notifications to that sink wait behind it, in order); then it is "
        "given up and marked failed.",
    )
    secret_env: EnvName | None = Field(
        None,
        description="Environment variable holding the key that signs every webhook body (HMAC-SHA256 of "
        "`<timestamp>.<body>` in the X-Slipway-Signature header, the timestamp in X-Slipway-Timestamp), so "
        "a receiver can check it came from slipway. Never the key itself.",
    )
    log: bool = Field(True, description="Also write every notification to the log.")
    email: EmailConfig | None = Field(None, description="Mail every notification through an SMTP server.")
    daily_summary: str | None = Field(
        None,
        description="Send a summary of the last 24 hours (route changes, rollouts, rollbacks, failed "
        "deliveries, traffic per slot, what to do next) every day at this UTC time, HH:MM; off when unset.",
    )

    @field_validator("daily_summary")
    @classmethod
    def _daily_summary(cls, value: str | None) -> str | None:
        if value is None:
            return None
        text = value.strip()
        hours, sep, minutes = text.partition(":")
        if (
            not sep
            or not (hours.isdigit() and minutes.isdigit())
            or len(minutes) != 2
            or not 1 <= len(hours) <= 2
            or int(hours) > 23
            or int(minutes) > 59
        ):
            raise ValueError(
                f'notify.daily_summary {value!r} is not a UTC time of day: write HH:MM, e.g. "07:30"'
            )
        return f"{int(hours):02d}:{minutes}"

    @field_validator("retry_for")
    @classmethod
    def _retry_for(cls, value: str) -> str:
        if value.strip() in ("0", "0s"):
            return value
        try:
            seconds = parse_duration(value, what="notify.retry_for")
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if seconds > 86_400:
            raise ValueError(f"notify.retry_for {value!r} is longer than a day (1d), the longest allowed")
        return value

    def retry_for_s(self) -> float:
        """`retry_for` in seconds; 0 retries only `retries` times."""
        return 0.0 if self.retry_for.strip() in ("0", "0s") else parse_duration(self.retry_for)

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            check_endpoint_text(url, "webhook")
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"webhook {url!r} is not an http(s) URL")
        return value


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Label | None = Field(None, description="The model family this gateway serves.")
    active_slot: SlotName = Field(description="Slot that takes all traffic when no weights are set.")
    slots: dict[SlotName, SlotConfig] = Field(description="Named slots (at least one).")
    weights: dict[str, Annotated[float, Range(0, 100, unit="percent")]] | None = Field(
        None, description="Percent of traffic per slot; must sum to 100."
    )
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    engines: dict[EngineName, EngineConfig] = Field(
        default_factory=dict, description="llama.cpp servers slipway runs (the embedded engine)."
    )
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    bake: BakeConfig = Field(default_factory=BakeConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    checklist: ChecklistConfig = Field(default_factory=ChecklistConfig)
    adapter_probe: AdapterProbeConfig = Field(default_factory=AdapterProbeConfig)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        if not self.slots:
            raise ValueError("no slots defined; add at least `blue: {model, endpoint}`")
        for name, slot in self.slots.items():
            if slot.engine is None:
                continue
            engine = self.engines.get(slot.engine)
            if engine is None:
                known = ", ".join(sorted(self.engines)) or "none"
                raise ValueError(
                    f"slots.{name}.engine: engine {slot.engine!r} is not defined under engines: "
                    f"(defined: {known})"
                )
            if slot.adapter is not None:
                try:
                    match_adapter(engine.adapters, slot.adapter, where=f"engine {slot.engine!r}")
                except NotFoundError as exc:
                    raise ValueError(
                        f"slots.{name}.adapter: {exc.message}; list it under engines.{slot.engine}.adapters"
                    ) from None
        if self.active_slot not in self.slots:
            known = ", ".join(sorted(self.slots))
            raise ValueError(f"active_slot {self.active_slot!r} is not a defined slot (defined: {known})")
        if self.weights is not None:
            unknown = sorted(set(self.weights) - set(self.slots))
            if unknown:
                raise ValueError(f"weights name undefined slots: {', '.join(unknown)}")
            if any(w < 0 for w in self.weights.values()):
                raise ValueError("weights must not be negative")
            total = sum(self.weights.values())
            if abs(total - 100.0) > 1e-6:
                raise ValueError(f"weights sum to {total:g}, not 100")
        return self

    def weights_bp(self) -> dict[str, int]:
        """Weights in basis points; empty when the active slot takes everything."""
        if not self.weights:
            return {}
        bp = {name: round(pct * WEIGHT_SCALE / 100) for name, pct in self.weights.items()}
        drift = WEIGHT_SCALE - sum(bp.values())
        if drift:
            bp[self.active_slot] = bp.get(self.active_slot, 0) + drift
        return {name: w for name, w in bp.items() if w > 0}

    def to_route_table(self, version: int) -> RouteTable:
        return RouteTable(
            version=version,
            slots={name: cfg.to_slot(name) for name, cfg in self.slots.items()},
            active=self.active_slot,
            weights=self.weights_bp(),
            name=self.name or self.gateway.public_model,
        )

    def public_model(self) -> str:
        return self.gateway.public_model or self.name or self.slots[self.active_slot].model


#: Every section of the routing file, from the model itself, so a new one can never be read as a slot.
TOP_LEVEL_KEYS = frozenset(RoutingConfig.model_fields)


def _normalize(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, ...], tuple[str, ...]]]:
    """Move top-level slots (the original shape) under `slots:`; remember where each came from."""
    data: dict[str, Any] = {}
    moved: dict[tuple[str, ...], tuple[str, ...]] = {}
    slots: dict[str, Any] = dict(raw.get("slots") or {}) if isinstance(raw.get("slots"), Mapping) else {}
    for key, value in raw.items():
        if key in TOP_LEVEL_KEYS:
            data[key] = value
        elif isinstance(value, Mapping) and ("endpoint" in value or "model" in value):
            if key in slots:
                raise ConfigError(
                    f"slot {key!r} is defined twice (at the top level and under slots:)",
                    hint="keep one of the two definitions",
                    field=key,
                )
            slots[key] = value
            moved[("slots", key)] = (key,)
        else:
            data[key] = value
    if slots or "slots" in raw:
        data["slots"] = slots
    return data, moved


def parse_config(text: str, source: str = "<config>") -> RoutingConfig:
    """Parse and validate YAML text; every error names the line and the field.

    Whatever the text, the only exception is ConfigError: the config watcher
    and `/admin/reload` rely on that to keep the running configuration.
    """
    try:
        return _parse_config(text, source)
    except ConfigError:
        raise
    except Exception as exc:
        # Whatever a parser or validator let out on this text (PyYAML raises AttributeError on
        # `!!timestamp x`), it is the file's fault, and the callers keep the running config on ConfigError.
        raise ConfigError(
            f"the file could not be read as a routing config ({type(exc).__name__}: {exc})",
            hint="see docs/config.md for the format",
            source=source,
        ) from exc


def _parse_config(text: str, source: str) -> RoutingConfig:
    raw, node = load_yaml(text, source)
    if raw is None:
        raise ConfigError("the file is empty", hint="write at least active_slot and one slot", source=source)
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"the top level must be a mapping, found {type(raw).__name__}",
            hint="start with `active_slot: blue`",
            source=source,
            line=1,
        )
    lines: dict[tuple[str, ...], int] = {}
    if node is not None:
        _line_map(node, (), lines)
    try:
        data, moved = _normalize(raw)
    except ConfigError as exc:
        raise ConfigError(
            exc.message, hint=exc.hint, source=source, line=lines.get((str(exc.field),)), field=exc.field
        ) from exc
    try:
        config = RoutingConfig.model_validate(data)
    except PydanticValidationError as exc:
        raise invalid_field(exc, TOP_LEVEL_KEYS, moved, lines, source) from exc
    check_finite(data, moved, lines, source)
    return config


def dump_config(
    table: RouteTable, name: str | None = None, engines: Mapping[str, EngineConfig] | None = None
) -> str:
    """Export a route table in slipway's YAML form (the file is an input and an export)."""
    slots: dict[str, Any] = {}
    for slot in table.slots.values():
        entry: dict[str, Any] = {"model": slot.model}
        if is_engine_endpoint(slot.endpoint):
            entry["engine"] = slot.endpoint.removeprefix(ENGINE_SCHEME)
        else:
            entry["endpoint"] = slot.endpoint
        entry["kind"] = str(slot.kind)
        if slot.upstream_model:
            entry["upstream_model"] = slot.upstream_model
        if slot.adapter:
            entry["adapter"] = slot.adapter
        if slot.api_key_env:
            entry["api_key_env"] = slot.api_key_env
        if slot.version:
            entry["version"] = slot.version
        entry["timeouts"] = {"connect": slot.connect_timeout_s, "read": slot.read_timeout_s}
        slots[slot.name] = entry
    doc: dict[str, Any] = {}
    if name:
        doc["name"] = name
    doc["active_slot"] = table.active
    doc["slots"] = slots
    if table.weights:
        doc["weights"] = {k: v * 100 / WEIGHT_SCALE for k, v in table.weights.items()}
    if engines:
        doc["engines"] = {n: e.model_dump(exclude_defaults=True) for n, e in engines.items()}
    return yaml.safe_dump(doc, sort_keys=False)
