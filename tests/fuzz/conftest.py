"""Healthy sim backends for the whole fuzz run, and the data plane's `slipway serve`.

Modules that change routes or the config file (admin, reload) start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.fuzz.live import Backends, Site, healthy_backends, served


@pytest.fixture(scope="session")
def backends() -> Iterator[Backends]:
    with healthy_backends() as urls:
        yield urls


@pytest.fixture(scope="session")
def data_plane(tmp_path_factory: pytest.TempPathFactory, backends: Backends) -> Iterator[Site]:
    """One gateway for the data-plane and feedback targets: they only send traffic."""
    with served(tmp_path_factory.mktemp("fuzz-data-plane"), backends) as site:
        yield site
