"""Translate httpx exceptions into slipway's BackendError tree, at the edge (STYLE habit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from slipway.core.errors import BackendTimeout, BackendUnavailable, UpstreamStatusError
from slipway.core.types import Slot


@contextmanager
def backend_errors(slot: Slot, what: str) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise BackendTimeout(
            f"{what}: slot {slot.name!r} ({slot.endpoint}) timed out",
            hint="check the server's load, or raise the slot's timeouts",
            slot=slot.name,
        ) from exc
    except httpx.HTTPStatusError as exc:
        body = exc.response.content[:300].decode("utf-8", "replace")
        raise UpstreamStatusError(
            f"{what}: slot {slot.name!r} answered HTTP {exc.response.status_code}: {body}",
            status=exc.response.status_code,
            body=exc.response.content,
            hint="read the backend's own log for the cause",
            slot=slot.name,
        ) from exc
    except httpx.HTTPError as exc:
        raise BackendUnavailable(
            f"{what}: slot {slot.name!r} ({slot.endpoint}) is unreachable: {exc.__class__.__name__}: {exc}",
            hint="start the server or fix the slot's endpoint",
            slot=slot.name,
        ) from exc
