"""Blue-green planning: which standby slot takes the new version, and as what.

Pure: given the route table and the operator's request, return the slot to
stage, or a TransitionError that says which slot to use instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from slipway.core.errors import ConfigError, TransitionError
from slipway.core.slot_config import normalize_endpoint
from slipway.core.types import BackendKind, RouteTable, Slot


@dataclass(frozen=True, slots=True)
class DeployRequest:
    version: str
    slot: str | None = None
    endpoint: str | None = None
    model: str | None = None
    kind: BackendKind | None = None
    adapter: str | None = None
    upstream_model: str | None = None
    api_key_env: str | None = None


def choose_standby(table: RouteTable, requested: str | None) -> str:
    if requested is not None:
        if requested == table.active:
            standby = table.standby_slots()
            hint = (
                f"deploy into the standby slot ({', '.join(standby)})"
                if standby
                else "give the new slot another name with --slot"
            )
            raise TransitionError(f"slot {requested!r} is active and serving production", hint=hint)
        return requested
    standby = table.standby_slots()
    if table.previous_active in standby:
        return str(table.previous_active)
    if len(standby) == 1:
        return standby[0]
    if not standby:
        raise TransitionError(
            "there is no standby slot to deploy into", hint="name a new slot with --slot green"
        )
    raise TransitionError(
        f"several standby slots ({', '.join(standby)}); which one?", hint="pass --slot NAME"
    )


def staged_slot(table: RouteTable, name: str, request: DeployRequest) -> Slot:
    """The slot definition after the deploy: the existing one with the request's changes."""
    existing = table.slots.get(name)
    try:
        endpoint = normalize_endpoint(request.endpoint) if request.endpoint else None
    except ValueError as exc:
        raise ConfigError(str(exc), field="endpoint", hint="write host:port or http://host:port") from exc
    if existing is None:
        if endpoint is None or request.model is None:
            raise TransitionError(
                f"slot {name!r} does not exist yet, so it needs an endpoint and a model",
                hint="pass --endpoint URL --model NAME",
            )
        return Slot(
            name=name,
            endpoint=endpoint,
            model=request.model,
            kind=request.kind or BackendKind.OPENAI,
            upstream_model=request.upstream_model,
            adapter=request.adapter,
            api_key_env=request.api_key_env,
            version=request.version,
        )
    return Slot(
        name=name,
        endpoint=endpoint or existing.endpoint,
        model=request.model or existing.model,
        kind=request.kind or existing.kind,
        upstream_model=request.upstream_model
        if request.upstream_model is not None
        else existing.upstream_model,
        adapter=request.adapter if request.adapter is not None else existing.adapter,
        api_key_env=request.api_key_env if request.api_key_env is not None else existing.api_key_env,
        connect_timeout_s=existing.connect_timeout_s,
        read_timeout_s=existing.read_timeout_s,
        version=request.version,
    )
