"""One pair of healthy sim backends for the whole fuzz run; each module starts its own `slipway serve`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.fuzz.live import Backends, healthy_backends


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    with healthy_backends() as urls:
        yield urls
