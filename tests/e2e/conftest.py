"""Fixtures of the end-to-end stories on real llama.cpp: the tiny models, built once, and the engine."""

from __future__ import annotations

import pytest

from slipway.backends.engine import find_llama_server, install_llama_server
from slipway.demo.tiny_model import TinyModelPaths, build_tiny_models


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> TinyModelPaths:
    """The tiny base with adapters v2.1 and v2.2 (read-only: tests must not write next to them)."""
    if find_llama_server() is None:
        install_llama_server()
    return build_tiny_models(tmp_path_factory.mktemp("models"), seed=0)
