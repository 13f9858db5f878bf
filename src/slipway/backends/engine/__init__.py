"""The embedded engine: llama.cpp's own `llama-server`, built once and supervised.

`install` finds or builds the binary; `process` runs one server per base
model with its adapters loaded, health-checks it and restarts it after a crash.
"""

from slipway.backends.engine.install import (
    ENGINE_ENV_VAR,
    LLAMA_CPP_PYTHON_VERSION,
    EngineInstallError,
    adopt_build,
    engine_cache_dir,
    find_llama_server,
    install_llama_server,
)
from slipway.backends.engine.process import (
    Adapter,
    EngineStartError,
    LlamaServerProcess,
    SupervisorEvent,
)

__all__ = [
    "ENGINE_ENV_VAR",
    "LLAMA_CPP_PYTHON_VERSION",
    "Adapter",
    "EngineInstallError",
    "EngineStartError",
    "LlamaServerProcess",
    "SupervisorEvent",
    "adopt_build",
    "engine_cache_dir",
    "find_llama_server",
    "install_llama_server",
]
