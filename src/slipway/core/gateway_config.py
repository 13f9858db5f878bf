"""The `gateway:` section: request size and time limits, the record queue, the names it answers to."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from slipway.core.hosts import host_name_problem, normal_name
from slipway.core.names import Label
from slipway.core.numbers import Range
from slipway.core.shadow import MAX_INPUT_TEXT


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
    record_inputs: bool = Field(
        True,
        description="Keep what each request asked with its record: its input text (up to input_max_chars), "
        "its user turns and, when at most 16 KiB, its body (drift, postmortems, regression cases).",
    )
    input_max_chars: Annotated[int, Range(1, MAX_INPUT_TEXT, unit="characters")] = Field(
        4000, description="Longest input text kept per request (the rest is cut)."
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
    shutdown_grace_s: Annotated[int, Range(0, 86_400, unit="seconds")] = Field(
        30,
        description="On SIGTERM, how long requests in flight (streams included) may take to finish "
        "before they are cut; raise it with the slots' read timeouts for long generations.",
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
