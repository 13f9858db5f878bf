"""Two sim model servers on loopback, for any test that puts a gateway in front of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.harness import sim_backend, sim_profile


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
