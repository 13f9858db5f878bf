"""Fixtures of the tests on a real vLLM: the installed venv, the tiny model, and servers.

`vllm` is one server for the whole session (starting one costs 30-50 s and
about 3 GB of memory); `start_vllm_server(extra_args)` starts a test's own,
stopped when that test ends, for flags the shared one must not have.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Protocol

import pytest
from tests.vllm_server import VllmServer, start_vllm, tiny_hf_model, vllm_python

from slipway.demo.tiny_hf import TinyHfModel


class StartVllm(Protocol):
    def __call__(
        self, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None
    ) -> VllmServer: ...


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/vllm/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.vllm)


@pytest.fixture(scope="session")
def vllm_py() -> Path:
    return vllm_python()


@pytest.fixture(scope="session")
def tiny_hf(vllm_py: Path) -> TinyHfModel:
    """The tiny base and adapters v2.1/v2.2 (shared and read-only: tests must not write next to them)."""
    return tiny_hf_model(vllm_py)


@pytest.fixture(scope="session")
def vllm(
    vllm_py: Path, tiny_hf: TinyHfModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[VllmServer]:
    with start_vllm(vllm_py, tiny_hf, tmp_path_factory.mktemp("vllm")) as server:
        yield server


@pytest.fixture
def start_vllm_server(vllm_py: Path, tiny_hf: TinyHfModel, tmp_path: Path) -> Iterator[StartVllm]:
    with ExitStack() as stack:

        def start(extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> VllmServer:
            cm: AbstractContextManager[VllmServer] = start_vllm(vllm_py, tiny_hf, tmp_path, extra_args, env)
            return stack.enter_context(cm)

        yield start
