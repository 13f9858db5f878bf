"""Two sim backends (blue answers v2.1, green v2.2) and a slipway in front of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.harness import Gateway, live_gateway, routing_yaml


@pytest.fixture
def gateway(tmp_path: Path, blue_url: str, green_url: str) -> Iterator[Gateway]:
    with live_gateway(tmp_path, routing_yaml(blue_url, green_url)) as gw:
        yield gw
