"""A routed request as the path carries it: the `Call`, and its record as it begins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slipway.core.records import Api, RequestRecord
from slipway.core.types import RouteTable, Slot
from slipway.gateway.asgi import Receive, Send
from slipway.gateway.exchanges import Exchange, exchange_for
from slipway.gateway.mirror import MirrorJob
from slipway.gateway.request_bodies import client_wants_stream
from slipway.gateway.validation import ClientLabels


@dataclass(slots=True, eq=False)
class Call:
    """One request from routing on: what each later step reads, and the record it writes into.

    The slot is the one routed to, moved to where its engine answers once that is known.
    """

    api: Api
    body: dict[str, Any]
    slot: Slot
    exchange: Exchange
    stream: bool
    #: The model name the client sent, echoed in translated answers (else the slot's).
    public_model: str
    rec: RequestRecord
    reply_headers: list[tuple[bytes, bytes]]
    t0: float
    receive: Receive
    send: Send
    job: MirrorJob | None = None
    #: Production's answer for the shadow pair (a stream keeps it only when the request is mirrored).
    answer: str = ""
    #: A request only the client got wrong is answered 400 and not recorded against any slot.
    clients_fault: bool = False
    #: The body as the client sent it: kept with the request's input when small enough.
    raw: bytes = b""
    #: A rollback drill's own request (its pin routed it): answered, never recorded or mirrored.
    drill: bool = False


def new_call(
    request_id: str,
    api: Api,
    body: dict[str, Any],
    labels: ClientLabels,
    table: RouteTable,
    slot: Slot,
    t0: float,
    started_at: float,
    receive: Receive,
    send: Send,
) -> Call:
    """The call for a routed request: its record so far, and the headers every answer carries."""
    stream = client_wants_stream(api, body)
    rec = RequestRecord(
        request_id=request_id,
        started_at=started_at,
        slot=slot.name,
        version=slot.version_label,
        api=api.value,
        stream=stream,
        route_version=table.version,
        category=labels.category,
        sticky_key=labels.sticky_key,
        pinned=labels.slot is not None,
    )
    model = body.get("model")
    return Call(
        api=api,
        body=body,
        slot=slot,
        exchange=exchange_for(api, slot.kind),
        stream=stream,
        public_model=model if isinstance(model, str) else slot.model,
        rec=rec,
        reply_headers=[
            (b"x-slipway-request-id", request_id.encode()),
            (b"x-slipway-slot", slot.name.encode()),
            (b"x-slipway-version", rec.version.encode()),
        ],
        t0=t0,
        receive=receive,
        send=send,
    )
