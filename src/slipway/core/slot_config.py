"""The `slots:` and `engines:` sections: where each slot's requests go, and how long to wait.

A slot names a backend that runs elsewhere (`endpoint`, any OpenAI-compatible
server) or an engine slipway starts itself (`engine`, a llama.cpp server
defined under `engines:`). `SlotConfig.to_slot` turns one into the `Slot` the
gateway routes to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slipway.core.lora import ENGINE_SCHEME
from slipway.core.names import (
    AdapterLabel,
    EndpointText,
    EngineName,
    EnvName,
    ModelLabel,
    VersionLabel,
    check_endpoint_text,
)
from slipway.core.numbers import Range
from slipway.core.types import BackendKind, Slot


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
