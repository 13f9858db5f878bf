"""The routing configuration: schema, parsing and errors that name line and field.

Two shapes are accepted. The seed's `model_routing.yaml`, verbatim:

    active_slot: "green"
    blue:  {model: "customer-support-v2.1", endpoint: "localhost:11434"}
    green: {model: "customer-support-v2.2", endpoint: "localhost:11435"}

and slipway's own, where slots live under `slots:` and may say more (backend
kind, API key variable, adapter, timeouts, upstream model name). Any other
top-level mapping that has an `endpoint` is taken as a slot, which is what
makes the seed's file load as written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from slipway.core.canary_plan import (
    DEFAULT_GUARD_INTERVAL,
    DEFAULT_HOLD_LIMIT,
    DEFAULT_INTERVAL,
    DEFAULT_STEPS,
    CanaryPlan,
    InconclusivePolicy,
    parse_duration,
    parse_guard_interval,
    parse_steps,
)
from slipway.core.errors import ConfigError, NotFoundError
from slipway.core.lora import ENGINE_SCHEME, is_engine_endpoint, match_adapter
from slipway.core.shadow_config import ShadowConfig
from slipway.core.types import WEIGHT_SCALE, BackendKind, RouteTable, Slot

SLOT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
TOP_LEVEL_KEYS = {
    "name", "active_slot", "slots", "weights", "gateway", "engines", "canary", "shadow", "notify"
}  # fmt: skip


def normalize_endpoint(raw: str) -> str:
    """`localhost:11434` → `http://localhost:11434`; strips a trailing `/v1` and `/`."""
    value = raw.strip()
    if not value:
        raise ValueError("endpoint is empty; write host:port or http://host:port")
    if "://" not in value:
        value = "http://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"endpoint scheme {parts.scheme!r} is not http or https")
    if not parts.hostname:
        raise ValueError(f"endpoint {raw!r} has no host; write host:port or http://host:port")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"endpoint {raw!r} has an invalid port") from exc
    if port is None and "://" not in raw:
        raise ValueError(f"endpoint {raw!r} has no port; write host:port")
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return f"{parts.scheme}://{parts.netloc}{path}"


class Timeouts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect: float = Field(5.0, gt=0, description="Seconds to open a connection.")
    read: float = Field(300.0, gt=0, description="Seconds to wait between bytes.")


class SlotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(
        min_length=1, description="Version label; also sent upstream unless upstream_model says otherwise."
    )
    endpoint: str | None = Field(
        None, description="host:port (an OpenAI-compatible server) or a URL; or give `engine`."
    )
    engine: str | None = Field(
        None, description="Name of an engine under `engines:` that slipway runs for this slot."
    )
    kind: BackendKind = Field(
        BackendKind.OPENAI, description="Protocol the backend speaks (`llamacpp` for an engine slot)."
    )
    upstream_model: str | None = Field(None, description="Model name to send to the backend.")
    adapter: str | None = Field(None, description="LoRA adapter this slot serves.")
    api_key_env: str | None = Field(None, description="Environment variable holding the backend's API key.")
    version: str | None = Field(None, description="Version label shown in X-Slipway-Version.")
    timeouts: Timeouts = Field(default_factory=Timeouts)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else normalize_endpoint(value)

    @model_validator(mode="before")
    @classmethod
    def _engine_kind(cls, data: Any) -> Any:
        # An engine slot speaks llama.cpp's API; saying so again is optional.
        if isinstance(data, Mapping) and data.get("engine") and "kind" not in data:
            return {**data, "kind": "llamacpp"}
        return data

    @model_validator(mode="after")
    def _one_place(self) -> SlotConfig:
        if (self.endpoint is None) == (self.engine is None):
            raise ValueError(
                "endpoint: give exactly one of `endpoint` (a server that runs elsewhere) "
                "and `engine` (one slipway runs)"
            )
        if self.engine is not None and self.kind is not BackendKind.LLAMACPP:
            raise ValueError("kind: a slot on a slipway engine speaks llama.cpp's API; use kind: llamacpp")
        return self

    @property
    def resolved_endpoint(self) -> str:
        return self.endpoint if self.endpoint is not None else ENGINE_SCHEME + str(self.engine)

    def to_slot(self, name: str) -> Slot:
        return Slot(
            name=name,
            endpoint=self.resolved_endpoint,
            model=self.model,
            kind=self.kind,
            upstream_model=self.upstream_model,
            adapter=self.adapter,
            api_key_env=self.api_key_env,
            connect_timeout_s=self.timeouts.connect,
            read_timeout_s=self.timeouts.read,
            version=self.version,
        )


class EngineConfig(BaseModel):
    """A llama.cpp server slipway starts, watches and stops: one base model, its adapters."""

    model_config = ConfigDict(extra="forbid")

    base: str = Field(min_length=1, description="Base model GGUF (relative to the config file).")
    adapters: list[str] = Field(
        default_factory=list,
        description="LoRA adapter GGUFs loaded at start, in this order; slots pick one per request.",
    )
    port: int = Field(0, ge=0, le=65535, description="Port on 127.0.0.1; 0 picks a free one.")
    ctx_size: int = Field(2048, gt=0, description="Context length per sequence (llama-server --ctx-size).")
    parallel: int = Field(2, gt=0, description="Requests decoded at once (llama-server --parallel).")
    args: list[str] = Field(default_factory=list, description="Extra llama-server arguments.")


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Largest request body accepted.")
    record_queue_size: int = Field(
        100_000, gt=0, description="Records buffered before new ones are dropped (and counted)."
    )
    record_batch_size: int = Field(1_000, gt=0, description="Records written per transaction.")
    record_flush_interval_s: float = Field(
        0.25, gt=0, description="Longest a record waits before it is written."
    )
    public_model: str | None = Field(None, description="Model id listed by /v1/models; defaults to `name`.")


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
    hold_limit: str = Field(DEFAULT_HOLD_LIMIT, description="Longest hold before it rolls back (DF4).")
    monitor: bool = Field(True, description="Run the post-promotion monitoring windows (MW1).")
    guard_interval: str = Field(
        DEFAULT_GUARD_INTERVAL,
        description="Guard checks between the scheduled ones, acting only on a rollback; 0/off = none.",
    )
    thresholds: dict[str, Any] = Field(
        default_factory=dict, description="Overrides of the CN2 threshold table (analysis.thresholds)."
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

    @field_validator("guard_interval", mode="before")
    @classmethod
    def _guard(cls, value: object) -> str:
        text = str(value)
        try:
            parse_guard_interval(text)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return text

    def plan(self, steps: str | None = None, interval: str | None = None) -> CanaryPlan:
        return CanaryPlan.parse(
            steps if steps is not None else self.steps,
            interval if interval is not None else self.interval,
            inconclusive=self.inconclusive,
            hold_limit=self.hold_limit,
            monitor=self.monitor,
            guard_interval=self.guard_interval,
        )


class NotifyConfig(BaseModel):
    """Where notifications go: phase transitions, halts, promotions, rollbacks (CN4, OP3)."""

    model_config = ConfigDict(extra="forbid")

    webhooks: list[str] = Field(
        default_factory=list, description="URLs that receive Slack-compatible JSON (POST)."
    )
    timeout_s: float = Field(5.0, gt=0, description="Longest wait for one webhook attempt.")
    retries: int = Field(3, ge=0, le=10, description="Extra attempts after a failed delivery.")
    log: bool = Field(True, description="Also write every notification to the log.")

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"webhook {url!r} is not an http(s) URL")
        return value


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, description="The model family this gateway serves.")
    active_slot: str = Field(description="Slot that takes all traffic when no weights are set.")
    slots: dict[str, SlotConfig] = Field(description="Named slots (at least one).")
    weights: dict[str, float] | None = Field(
        None, description="Percent of traffic per slot; must sum to 100."
    )
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)
    engines: dict[str, EngineConfig] = Field(
        default_factory=dict, description="llama.cpp servers slipway runs (the embedded engine)."
    )
    canary: CanaryConfig = Field(default_factory=CanaryConfig)
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

    @model_validator(mode="after")
    def _consistent(self) -> RoutingConfig:
        if not self.slots:
            raise ValueError("no slots defined; add at least `blue: {model, endpoint}`")
        for name in self.slots:
            if not SLOT_NAME.match(name):
                raise ValueError(f"slot name {name!r} must be letters, digits, '-', '_' or '.'")
        for name in self.engines:
            if not SLOT_NAME.match(name):
                raise ValueError(
                    f"engines.{name}: engine name {name!r} must be letters, digits, '-', '_' or '.'"
                )
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


def _line_map(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            out[(*path, key)] = key_node.start_mark.line + 1
            _line_map(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, str(i)), out)


def _normalize(raw: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[str, ...], tuple[str, ...]]]:
    """Move seed-style top-level slots under `slots:`; remember where each came from."""
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
    """Parse and validate YAML text; every error names the line and the field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"not valid YAML: {problem}", hint="fix the syntax and save again", source=source, line=line
        ) from exc
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
        return RoutingConfig.model_validate(data)
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(str(part) for part in err["loc"])
        if not loc:
            # Whole-model checks name their field (a dotted path) in the first word of the message.
            first = str(err["msg"]).removeprefix("Value error, ").split(" ", 1)[0].rstrip(":")
            if first.split(".")[0] in TOP_LEVEL_KEYS:
                loc = tuple(first.split("."))
        original = loc
        for prefix_len in range(len(loc), 0, -1):
            if loc[:prefix_len] in moved:
                original = moved[loc[:prefix_len]] + loc[prefix_len:]
                break
        line = None
        for n in range(len(original), -1, -1):
            if original[:n] in lines:
                line = lines[original[:n]]
                break
        field = ".".join(original) or None
        message = str(err["msg"]).removeprefix("Value error, ")
        if field and message.startswith(field + ": "):
            message = message[len(field) + 2 :]
        if err["type"] == "extra_forbidden":
            message = f"unknown field {loc[-1]!r}"
            hint = "check the spelling; see docs/config.md for every field"
        elif err["type"] == "missing":
            message = "required field is missing"
            hint = "add it; see docs/config.md"
        else:
            hint = "see docs/config.md for the allowed values"
        raise ConfigError(message, hint=hint, source=source, line=line, field=field) from exc


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
