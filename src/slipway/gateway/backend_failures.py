"""What the client is told when the backend fails it: unreachable, dropped the request, or timed out.

Each failure names the slot and its backend, says whose fault it is (slipway
out of its own resources is not the backend's), and points at the setting
that changes it.
"""

from __future__ import annotations

import aiohttp

from slipway.core.types import Slot
from slipway.gateway.calls import Call
from slipway.gateway.connections import own_exhaustion
from slipway.gateway.errors import send_error


async def answer_unreached(call: Call, exc: BaseException) -> None:
    """Record and answer a request the backend never took, or dropped, or was too slow to take."""
    slot, rec = call.slot, call.rec
    if isinstance(exc, TimeoutError):
        rec.status, rec.error = 504, "backend_timeout"
        what, hint = timed_out(slot, exc)
        await send_error(
            call.send,
            call.api,
            504,
            f"backend of slot {slot.name!r} ({slot.endpoint}) {what}; {hint}",
            "backend_timeout",
            call.reply_headers,
        )
        return
    status, code, message = unreachable(slot, exc)
    rec.status, rec.error, rec.aborted = status, code, code == "backend_disconnected"
    await send_error(call.send, call.api, status, message, code, call.reply_headers)


def describe(exc: BaseException) -> str:
    """An exception as `Type: message` (just the type when it has no message)."""
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


def unreachable(slot: Slot, exc: BaseException) -> tuple[int, str, str]:
    """(status, error code, message) for a backend that could not be reached, or dropped the request."""
    where = f"backend of slot {slot.name!r} ({slot.endpoint})"
    os_error = own_exhaustion(exc)
    if os_error is not None:
        return (
            503,
            "gateway_overloaded",
            (
                f"slipway could not open a connection to the {where}: it is out of resources itself "
                f"({os_error.strerror}); retry shortly (see gateway.max_connections in the routing config)"
            ),
        )
    connected = isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError) and not isinstance(
        exc, aiohttp.ClientConnectorError
    )
    if connected:
        # It took the request, then closed or reset the connection: a crash, a restart, an OOM kill.
        return (
            502,
            "backend_disconnected",
            (
                f"{where} dropped the connection before answering ({describe(exc)}); "
                "it may have crashed or restarted"
            ),
        )
    return 502, "backend_unavailable", f"{where} is unreachable: {describe(exc)}"


def timed_out(slot: Slot, exc: BaseException) -> tuple[str, str]:
    """What a timeout of this slot means, and the setting that changes it."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return (
            f"could not be connected to within {slot.connect_timeout_s:g}s",
            f"check that it is up, or raise slots.{slot.name}.timeouts.connect",
        )
    return (
        f"sent no data for {slot.read_timeout_s:g}s",
        f"raise slots.{slot.name}.timeouts.read if the model is just slow",
    )
