"""Two sim model servers on loopback, for any test that puts a gateway in front of them; the
backends slipway talks to them with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from tests.harness import sim_backend, sim_profile

from slipway.backends.factory import SlotBackends


@pytest.fixture
async def backends() -> AsyncIterator[SlotBackends]:
    """slipway's clients for every kind of slot, closed after the test."""
    made = SlotBackends()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def blue_url() -> Iterator[str]:
    """Production's server: answers as v2.1."""
    with sim_backend(sim_profile("cs-v2.1", "v2.1")) as url:
        yield url


@pytest.fixture
def green_url() -> Iterator[str]:
    """The new version's server: answers as v2.2."""
    with sim_backend(sim_profile("cs-v2.2", "v2.2"), seed=1) as url:
        yield url
