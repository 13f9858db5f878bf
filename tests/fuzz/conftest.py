"""One pair of healthy sim backends for the whole fuzz run; each module starts its own `slipway serve`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.fuzz.live import healthy_backends


@pytest.fixture(scope="session")
def backends() -> Iterator[tuple[str, str]]:
    with healthy_backends() as urls:
        yield urls
