"""The call to a slot's backend, built one way for a user's request and for its shadow copy.

A shadow pair compares two models only if both were asked the same thing in
the same way, so production's request and the candidate's copy go through
the same steps: find where a llama.cpp slot's engine answers and which
adapter index to ask for there, rewrite the body for the backend's API, and
send the same headers (the API key read from the environment at call time, so
a rotated key applies to the next request).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from slipway.core.lora import EngineInfo
from slipway.core.types import BackendKind, Slot
from slipway.gateway.exchanges import Exchange, upstream_body

ResolveEngine = Callable[[Slot], Awaitable[EngineInfo]]


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    exchange: Exchange
    url: str
    payload: bytes
    headers: dict[str, str]


async def engine_target(
    slot: Slot, resolve_engine: ResolveEngine | None, *, shadow: bool = False
) -> tuple[Slot, dict[str, Any] | None]:
    """The slot as its engine serves it now, and the body fields that pick its adapter there.

    An engine's port is chosen when it starts, and the adapter is named by its
    index in the engine's list, so both are looked up per request (a cached
    lookup). Raises BackendError or NotFoundError when the engine cannot say.
    """
    if slot.kind is not BackendKind.LLAMACPP or resolve_engine is None:
        return slot, None
    info = await resolve_engine(slot)
    where = f"shadow slot {slot.name!r}" if shadow else f"slot {slot.name!r} ({slot.endpoint})"
    extras: dict[str, Any] = {"lora": info.lora_for(slot.adapter, where=where)}
    if info.url != slot.endpoint:
        slot = slot.with_changes(endpoint=info.url)
    return slot, extras


def upstream_request(
    exchange: Exchange,
    slot: Slot,
    body: dict[str, Any],
    stream: bool,
    extras: dict[str, Any] | None,
    *,
    request_id: str,
    category: str | None,
    shadow: bool = False,
) -> UpstreamRequest:
    """What to POST where. Raises ValidationError for what only the backend's API refuses."""
    payload = orjson.dumps(upstream_body(exchange, body, slot, stream, extras))
    headers = {
        "content-type": "application/json",
        # Bytes are relayed as they come; a compressed stream could not be read on the way.
        "accept-encoding": "identity",
        "x-slipway-request-id": request_id,
    }
    if shadow:
        headers["x-slipway-shadow"] = "1"
    if category:
        headers["x-slipway-category"] = category
    if slot.api_key_env:
        api_key = os.environ.get(slot.api_key_env)
        if api_key:
            headers["authorization"] = f"Bearer {api_key}"
    return UpstreamRequest(exchange, slot.endpoint + exchange.upstream_path, payload, headers)


async def post(
    session: aiohttp.ClientSession, request: UpstreamRequest, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientResponse:
    """POST once more if a pooled keep-alive connection turns out to be closed already.

    A server may close an idle or well-used keep-alive connection just as
    it is reused (llama.cpp's server caps requests per connection). That
    fails while the request is still being written, or with a disconnect
    before a single response byte — either way the backend never ran it,
    so sending it again on a fresh connection is safe. Refused
    connections are not retried: nothing is listening. If the retry finds
    nothing listening, the server died on this request, and the first
    error is the one reported.
    """
    url, payload, headers = request.url, request.payload, request.headers
    try:
        return await session.post(url, data=payload, headers=headers, timeout=timeout)
    except aiohttp.ClientConnectorError:
        raise
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as first:
        try:
            return await session.post(url, data=payload, headers=headers, timeout=timeout)
        except aiohttp.ClientConnectorError:
            # Nothing listens any more: the server died on this request; that is the news.
            raise first from None
