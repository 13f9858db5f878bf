"""Which connection failures are slipway's own, and the connection cap that fits the open-file limit."""

from __future__ import annotations

import errno
import resource

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from slipway.core.types import BackendKind, Slot
from slipway.gateway.backend_failures import unreachable as _unreachable
from slipway.gateway.connections import RESERVED_FDS, fd_budget, own_exhaustion

SLOT = Slot(name="green", endpoint="http://127.0.0.1:9", model="m", kind=BackendKind.SIM, version="v2.2")
KEY = ConnectionKey("127.0.0.1", 9, False, True, None, None, None)


@pytest.mark.parametrize("code", [errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
def test_running_out_of_files_or_memory_is_the_gateways_own_overload(code: int) -> None:
    exc = aiohttp.ClientConnectorError(KEY, OSError(code, "Too many open files"))
    assert own_exhaustion(exc) is not None
    status, error, message = _unreachable(SLOT, exc)
    assert (status, error) == (503, "gateway_overloaded")
    assert "slipway could not open a connection" in message and "gateway.max_connections" in message


@pytest.mark.parametrize("code", [errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ECONNRESET])
def test_a_backend_that_refuses_or_resets_is_the_backends_failure(code: int) -> None:
    exc = aiohttp.ClientConnectorError(KEY, OSError(code, "nope"))
    assert own_exhaustion(exc) is None
    status, error, _ = _unreachable(SLOT, exc)
    assert (status, error) == (502, "backend_unavailable")


def test_the_connection_cap_fits_in_the_open_file_limit() -> None:
    capped = fd_budget(10**9)
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert capped == max(16, (soft - RESERVED_FDS) // 2)
    assert fd_budget(20) == 20
