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

import math
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic import ValidationError as PydanticValidationError

from slipway.core.canary_schedule import (
    DEFAULT_GUARD_INTERVAL,
    DEFAULT_HOLD_LIMIT,
    DEFAULT_INTERVAL,
    DEFAULT_STEPS,
    CanarySchedule,
    InconclusivePolicy,
    parse_duration,
    parse_guard_interval,
    parse_steps,
)
from slipway.core.errors import ConfigError, NotFoundError
from slipway.core.hosts import host_name_problem, normal_name
from slipway.core.lora import ENGINE_SCHEME, is_engine_endpoint, match_adapter
from slipway.core.names import (
    AdapterLabel,
    EndpointText,
    EngineName,
    EnvName,
    Label,
    ModelLabel,
    SlotName,
    VersionLabel,
    check_endpoint_text,
    shown,
)
from slipway.core.numbers import Range
from slipway.core.shadow_config import ShadowConfig
from slipway.core.types import WEIGHT_SCALE, BackendKind, RouteTable, Slot

#: The largest config file read, in bytes: a routing file is a few KiB, and parsing is not free.
MAX_CONFIG_BYTES = 1024 * 1024
#: Values (scalars, lists, mappings) in the document with every YAML alias expanded.
MAX_CONFIG_VALUES = 10_000
#: Lists and mappings nested in one another.
MAX_CONFIG_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

TOP_LEVEL_KEYS = {
    "name", "active_slot", "slots", "weights", "gateway", "engines", "canary", "shadow", "notify"
}  # fmt: skip


def normalize_endpoint(raw: str) -> str:
    """`localhost:11434` → `http://localhost:11434`; strips a trailing `/v1` and `/`."""
    value = check_endpoint_text(raw).strip()
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

    connect: Annotated[float, Range(0, 600, low_open=True, unit="seconds")] = Field(
        5.0, description="Seconds to open a connection."
    )
    read: Annotated[float, Range(0, 86_400, low_open=True, unit="seconds")] = Field(
        300.0, description="Seconds to wait between bytes."
    )


class SlotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: ModelLabel = Field(
        description="Version label; also sent upstream unless upstream_model says otherwise."
    )
    endpoint: EndpointText | None = Field(
        None, description="host:port (an OpenAI-compatible server) or a URL; or give `engine`."
    )
    engine: EngineName | None = Field(
        None, description="Name of an engine under `engines:` that slipway runs for this slot."
    )
    kind: BackendKind = Field(
        BackendKind.OPENAI, description="Protocol the backend speaks (`llamacpp` for an engine slot)."
    )
    upstream_model: ModelLabel | None = Field(None, description="Model name to send to the backend.")
    adapter: AdapterLabel | None = Field(None, description="LoRA adapter this slot serves.")
    api_key_env: EnvName | None = Field(
        None, description="Environment variable holding the backend's API key."
    )
    version: VersionLabel | None = Field(None, description="Version label shown in X-Slipway-Version.")
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
    port: Annotated[int, Range(0, 65_535)] = Field(0, description="Port on 127.0.0.1; 0 picks a free one.")
    ctx_size: Annotated[int, Range(1, 1_048_576, unit="tokens")] = Field(
        2048, description="Context length per sequence (llama-server --ctx-size)."
    )
    parallel: Annotated[int, Range(1, 1024)] = Field(
        2, description="Requests decoded at once (llama-server --parallel)."
    )
    args: list[str] = Field(default_factory=list, description="Extra llama-server arguments.")


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_body_bytes: Annotated[int, Range(1, 1024**3, unit="bytes")] = Field(
        4 * 1024 * 1024, description="Largest request body accepted."
    )
    record_queue_size: Annotated[int, Range(1, 10_000_000)] = Field(
        100_000, description="Records buffered before new ones are dropped (and counted)."
    )
    record_batch_size: Annotated[int, Range(1, 100_000)] = Field(
        1_000, description="Records written per transaction."
    )
    record_flush_interval_s: Annotated[float, Range(0, 60, low_open=True, unit="seconds")] = Field(
        0.25, description="Longest a record waits before it is written."
    )
    public_model: Label | None = Field(None, description="Model id listed by /v1/models; defaults to `name`.")
    max_connections: Annotated[int, Range(1, 1_000_000)] = Field(
        4096,
        description="Client connections open at once; more are refused with a 503 (lowered to what the "
        "process's open-file limit allows).",
    )
    header_timeout_s: Annotated[float, Range(0, 3600, low_open=True, unit="seconds")] = Field(
        10.0, description="Longest a client may take to send a request's headers; then 408 and closed."
    )
    body_timeout_s: Annotated[float, Range(0, 3600, low_open=True, unit="seconds")] = Field(
        60.0, description="Longest a client may take to send a request's body after its headers."
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="More names clients use for this server (a load balancer's DNS name); the admin API "
        "and the dashboard answer only requests whose Host header names this server.",
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, names: list[str]) -> list[str]:
        for name in names:
            problem = host_name_problem(name)
            if problem:
                raise ValueError(problem)
        return [normal_name(n) for n in names]


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
        )


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
    log: bool = Field(True, description="Also write every notification to the log.")

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
    shadow: ShadowConfig = Field(default_factory=ShadowConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)

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


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, yaml.SequenceNode):
        yield from node.value


def _check_events(text: str, source: str) -> None:
    """Refuse deep nesting and too many values from the event stream, before anything builds the tree.

    The event parser keeps its own stack, so this pass cannot run out of C
    stack on `[[[[...` the way composing (or a later tree walk) could; and it
    stops at the first value over the limit, so a file of half a million
    values costs milliseconds here instead of seconds of composing, which in
    the C parser is one call that holds the GIL, and so the event loop.
    """
    loader = _Loader(text)
    try:
        depth = 0
        values = 0
        while (event := loader.get_event()) is not None and not isinstance(event, yaml.StreamEndEvent):
            if isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent):
                values += 1
                if values > MAX_CONFIG_VALUES:
                    raise ConfigError(
                        f"the file holds more than {MAX_CONFIG_VALUES:,} values, the limit for a config file",
                        hint="a routing file needs a few hundred: check that the path names the right file",
                        source=source,
                        line=event.start_mark.line + 1 if event.start_mark is not None else None,
                    )
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_CONFIG_DEPTH:
                    raise ConfigError(
                        f"lists and mappings are nested more than {MAX_CONFIG_DEPTH} deep",
                        hint="a routing file needs a few levels; this is not a routing file",
                        source=source,
                        line=event.start_mark.line + 1 if event.start_mark is not None else None,
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _check_nodes(root: yaml.Node, source: str) -> None:
    """Duplicate keys, alias loops and alias bombs, in one pass over the composed graph (no recursion).

    An alias is a reference: a 400-byte file can name a billion values, and
    everything after parsing (line numbers, validation) walks them expanded.
    So the expanded size is computed first, once per node, and capped.
    """
    expanded: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            if isinstance(node, yaml.MappingNode):
                _no_duplicate_keys(node, source)
            continue
        if key in expanded:
            continue
        open_nodes.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in open_nodes:
                raise ConfigError(
                    "an alias refers to a list or mapping that contains it (a loop)",
                    hint="replace the alias with the values it should repeat",
                    source=source,
                    line=child.start_mark.line + 1,
                )
            if id(child) not in expanded:
                stack.append((child, False))
    total = expanded[id(root)]
    if total > MAX_CONFIG_VALUES:
        raise ConfigError(
            f"the file holds {total:,} values once its aliases (*name) are expanded; "
            f"the limit is {MAX_CONFIG_VALUES:,}",
            hint="write the values out, or use fewer aliases; a routing file needs a few hundred",
            source=source,
        )


def _no_duplicate_keys(node: yaml.MappingNode, source: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for key_node, _value in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
            continue
        line = key_node.start_mark.line + 1
        ident = (key_node.tag, key_node.value)
        first = seen.get(ident)
        if first is not None:
            raise ConfigError(
                f"key {shown(key_node.value)} appears twice in the same mapping, on lines {first} and {line}",
                hint="keep one of them: YAML would silently use the last one",
                source=source,
                line=line,
            )
        seen[ident] = line


def load_yaml(text: str, source: str = "<config>") -> tuple[Any, yaml.Node | None]:
    """The document and its node graph, refused (ConfigError) when too big, too deep, or ambiguous."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is {size:,} bytes; a config file may be at most {MAX_CONFIG_BYTES:,} bytes (1 MiB)",
            hint="a routing file is a few KiB: check that the path names the right file",
            source=source,
        )
    try:
        _check_events(text, source)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None, None
            _check_nodes(node, source)
            return loader.construct_document(node), node
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"not valid YAML: {problem}", hint="fix the syntax and save again", source=source, line=line
        ) from exc


def _line_map(node: yaml.Node, path: tuple[str, ...], out: dict[tuple[str, ...], int]) -> None:
    # Bounded by load_yaml: at most MAX_CONFIG_DEPTH deep and MAX_CONFIG_VALUES expanded.
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value)
            _line_map(value_node, (*path, key), out)
            out[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_map(item, (*path, str(i)), out)


def _non_finite(data: Any, path: tuple[str, ...] = ()) -> tuple[tuple[str, ...], float] | None:
    """The first NaN or infinity anywhere, free-form sections included (their models may not look)."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(data, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where, value
        if isinstance(value, Mapping):
            stack.extend((v, (*where, str(k))) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, (*where, str(i))) for i, v in enumerate(value))
    return None


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


def read_config_text(path: Path) -> str:
    """The file's text, or a ConfigError: only a regular file, at most MAX_CONFIG_BYTES, UTF-8.

    Opened without blocking so a FIFO or device put in the config's place
    cannot hang the reader, and read with a cap so a huge file is refused
    before it is in memory.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the path and permissions", source=str(path)
        ) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(
                f"{path} is not a regular file", hint="point --config at the YAML file", source=str(path)
            )
        if info.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"the file is {info.st_size:,} bytes; a config file may be at most "
                f"{MAX_CONFIG_BYTES:,} bytes (1 MiB)",
                hint="a routing file is a few KiB: check that the path names the right file",
                source=str(path),
            )
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_CONFIG_BYTES and (chunk := os.read(fd, MAX_CONFIG_BYTES + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", hint="check the path and permissions", source=str(path)
        ) from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the file is larger than {MAX_CONFIG_BYTES:,} bytes (1 MiB), the limit for a config file",
            hint="a routing file is a few KiB: check that the path names the right file",
            source=str(path),
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="a config file is YAML text; save it as UTF-8",
            source=str(path),
        ) from None


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
        err = exc.errors()[0]
        loc = tuple(str(part) for part in err["loc"])
        if loc and loc[-1] == "[key]":
            loc = loc[:-1]
        if not loc:
            # Whole-model checks name their field (a dotted path) in the first word of the message.
            first = str(err["msg"]).removeprefix("Value error, ").split(" ", 1)[0].rstrip(":")
            if first.split(".")[0] in TOP_LEVEL_KEYS:
                loc = tuple(first.split("."))
        original = _original(loc, moved)
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
            if err["type"] != "value_error" and isinstance(err.get("input"), str | int | float | bool):
                message += f" (found {shown(str(err['input']))})"
            hint = "see docs/config.md for the allowed values"
        line = _line(original, lines)
        raise ConfigError(message, hint=hint, source=source, line=line, field=field) from exc
    found = _non_finite(data)
    if found is not None:
        original = _original(found[0], moved)
        raise ConfigError(
            f"{found[1]} is not a finite number",
            hint="every number in a config file must be finite; see docs/config.md for each field's range",
            source=source,
            line=_line(original, lines),
            field=".".join(original),
        )
    return config


def _original(loc: tuple[str, ...], moved: Mapping[tuple[str, ...], tuple[str, ...]]) -> tuple[str, ...]:
    """Where a field was written, for seed-style slots that _normalize moved under `slots:`."""
    for prefix_len in range(len(loc), 0, -1):
        if loc[:prefix_len] in moved:
            return moved[loc[:prefix_len]] + loc[prefix_len:]
    return loc


def _line(path: tuple[str, ...], lines: Mapping[tuple[str, ...], int]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


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
