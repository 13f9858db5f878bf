"""Finding, caching and supervising the engine, with stand-in binaries (no compiler, no model).

The real build is exercised by `slipway engine install` in CI and the real
server by test_engine_llama.py; here every branch that is awkward to reach
with the real thing: lookup order, cache hits, missing tools, adopted shared
builds, start-up failures, a server that ignores SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from slipway.backends.engine import (
    EngineInstallError,
    EngineStartError,
    LlamaServerProcess,
    adopt_build,
    engine_cache_dir,
    find_llama_server,
    install_llama_server,
)
from slipway.backends.engine.install import (
    cached_llama_server,
    engine_env,
    read_manifest,
)
from slipway.core.errors import BackendError, BackendTimeout


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Own cache dir, no explicit binary, and a PATH without llama-server."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SLIPWAY_LLAMA_SERVER", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


VERSION_ONLY = """
import sys
if "--version" in sys.argv:
    print("version: 1 (fake)", file=sys.stderr)
    sys.exit(0)
sys.exit(3)
"""

#: A stand-in llama-server: answers /health, optionally fails like a bad
#: adapter, optionally ignores SIGTERM (to exercise the kill escalation).
FAKE_SERVER = """
import http.server, os, signal, sys
args = sys.argv[1:]
if "--version" in args:
    print("version: 1 (fake)", file=sys.stderr); sys.exit(0)
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "bad-adapter":
    path = args[args.index("--lora-scaled") + 1].split(",")[-1].rsplit(":", 1)[0]
    print(f"common_init_: failed to load lora adapter '{path}'", file=sys.stderr, flush=True)
    sys.exit(1)
if mode == "hang":
    import time; time.sleep(60)
if mode == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
port = int(args[args.index("--port") + 1])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"ok"}' if self.path == "/health" else b'[]'
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def fake_cache_entry() -> Path:
    entry = engine_cache_dir()
    binary = script(entry / "bin" / "llama-server", VERSION_ONLY)
    (entry / "manifest.json").write_text(
        json.dumps({"llama_cpp_python": "0.3.36", "binary": "bin/llama-server", "lib_dir": None})
    )
    return binary


def test_lookup_order_env_then_path_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_llama_server() is None
    cached = fake_cache_entry()
    assert find_llama_server() == cached
    on_path = script(tmp_path / "empty-bin" / "llama-server", VERSION_ONLY)
    assert find_llama_server() == on_path
    explicit = script(tmp_path / "elsewhere" / "my-llama", VERSION_ONLY)
    monkeypatch.setenv("SLIPWAY_LLAMA_SERVER", str(explicit))
    assert find_llama_server() == explicit


def test_explicit_binary_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_LLAMA_SERVER", "/nonexistent/llama-server")
    with pytest.raises(EngineInstallError, match="SLIPWAY_LLAMA_SERVER"):
        find_llama_server()


def test_cache_entry_without_manifest_is_not_installed() -> None:
    script(engine_cache_dir() / "bin" / "llama-server", VERSION_ONLY)
    assert cached_llama_server() is None


def test_install_returns_a_cache_hit_at_once() -> None:
    cached = fake_cache_entry()
    stages: list[tuple[str, float | None]] = []
    # PATH has no cmake: a hit must not even look for build tools
    assert install_llama_server(progress=lambda s, f: stages.append((s, f))) == cached
    assert stages and stages[-1][1] == 1.0


def test_install_without_cmake_names_the_package_to_install() -> None:
    with pytest.raises(EngineInstallError) as caught:
        install_llama_server()
    message = str(caught.value)
    assert "apt-get install cmake" in message
    assert "build-essential" in message
    assert "SLIPWAY_LLAMA_SERVER" in message


def test_adopt_a_shared_build_copies_libs_and_retargets_runpath(tmp_path: Path) -> None:
    build = tmp_path / "llama.cpp" / "build"
    script(build / "bin" / "llama-server", VERSION_ONLY)
    runpath = f"{build}/bin:".encode()
    lib = build / "bin" / "libllama.so.0.5.0"
    lib.write_bytes(b"\x7fELF" + b"\x00" * 12 + runpath + b"\x00tail\x00")
    (build / "bin" / "libllama.so.0").symlink_to("libllama.so.0.5.0")
    objects = build / "src" / "CMakeFiles" / "x.dir"
    objects.mkdir(parents=True)
    (objects / "libignored.so").write_bytes(b"")

    binary = adopt_build(build)

    assert binary == cached_llama_server() == find_llama_server()
    copied = binary.parent / "libllama.so.0.5.0"
    data = copied.read_bytes()
    assert runpath not in data
    assert b"\x00$ORIGIN\x00" in data and data.endswith(b"\x00tail\x00")
    assert len(data) == len(lib.read_bytes())
    assert (binary.parent / "libllama.so.0").is_symlink()
    assert not (binary.parent / "libignored.so").exists()
    manifest = read_manifest()
    assert manifest is not None
    assert manifest.lib_dir == "bin" and manifest.server_version == "1 (fake)"
    assert "adopted" in manifest.origin
    assert engine_env(binary, {})["LD_LIBRARY_PATH"] == str(binary.parent)


def test_adopt_refuses_a_binary_that_does_not_run(tmp_path: Path) -> None:
    build = tmp_path / "build"
    script(build / "bin" / "llama-server", "import sys\nprint('boom', file=sys.stderr)\nsys.exit(127)\n")
    with pytest.raises(EngineInstallError, match="boom"):
        adopt_build(build)
    assert cached_llama_server() is None


def test_static_binary_needs_no_library_path(tmp_path: Path) -> None:
    binary = script(tmp_path / "solo" / "llama-server", VERSION_ONLY)
    assert "LD_LIBRARY_PATH" not in engine_env(binary, {})


# ----------------------------------------------------------------------------- process


def files(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        path = tmp_path / name
        path.write_bytes(b"GGUF")
        out.append(path)
    return out


def test_command_loads_every_adapter_at_scale_zero_in_one_flag(tmp_path: Path) -> None:
    base, a, b = files(tmp_path, "base.gguf", "a.gguf", "b.gguf")
    proc = LlamaServerProcess(base, [a, b], binary=Path("/x/llama-server"), port=8123, ctx_size=512)
    cmd = proc.command()
    assert cmd[0] == "/x/llama-server"
    assert cmd[cmd.index("--lora-scaled") + 1] == f"{a}:0,{b}:0"
    assert cmd.count("--lora-scaled") == 1 and "--lora" not in cmd
    assert cmd[cmd.index("--port") + 1] == "8123"
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert "--no-webui" in cmd
    assert proc.base_url == "http://127.0.0.1:8123"


def test_adapter_path_with_a_comma_is_refused(tmp_path: Path) -> None:
    base, bad = files(tmp_path, "base.gguf", "a,b.gguf")
    with pytest.raises(BackendError, match="--lora-scaled"):
        LlamaServerProcess(base, [bad], binary=Path("/x/llama-server")).command()


async def test_start_failure_names_the_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MODE", "bad-adapter")
    binary = script(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    base, good, bad = files(tmp_path, "base.gguf", "good.gguf", "bad.gguf")
    proc = LlamaServerProcess(base, [good, bad], binary=binary, log_path=tmp_path / "x.log")
    with pytest.raises(EngineStartError) as caught:
        await proc.start()
    assert caught.value.adapter == bad
    assert caught.value.exit_code == 1
    assert f"adapter {bad} failed to load" in str(caught.value)


async def test_missing_adapter_file_is_caught_before_spawning(tmp_path: Path) -> None:
    (base,) = files(tmp_path, "base.gguf")
    proc = LlamaServerProcess(base, [tmp_path / "gone.gguf"], binary=Path("/nonexistent"))
    with pytest.raises(EngineStartError) as caught:
        await proc.start()
    assert caught.value.adapter == tmp_path / "gone.gguf"
    assert proc.pid is None


async def test_never_healthy_times_out_and_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "hang")
    binary = script(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    (base,) = files(tmp_path, "base.gguf")
    proc = LlamaServerProcess(base, binary=binary, startup_timeout=0.5, log_path=tmp_path / "x.log")
    with pytest.raises(BackendTimeout, match="did not become healthy"):
        await proc.start()
    assert not proc.is_alive()


async def test_stop_kills_a_server_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "stubborn")
    binary = script(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    (base,) = files(tmp_path, "base.gguf")
    proc = LlamaServerProcess(base, binary=binary, log_path=tmp_path / "x.log")
    await proc.start()
    assert proc.is_alive() and await proc.health()
    assert (proc.rss_bytes() or 0) > 0
    await proc.stop(timeout=0.3)
    assert not proc.is_alive()
    assert proc.exit_code == -signal.SIGKILL
    assert proc.rss_bytes() is None


async def test_supervisor_backs_off_on_a_crash_loop_and_gives_up_at_max(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "bad-adapter")
    binary = script(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    base, bad = files(tmp_path, "base.gguf", "bad.gguf")
    proc = LlamaServerProcess(base, [bad], binary=binary, log_path=tmp_path / "x.log")
    started = asyncio.get_running_loop().time()
    async with asyncio.timeout(10):
        await proc.supervise(poll_interval=0.01, initial_backoff=0.05, max_restarts=3)
    elapsed = asyncio.get_running_loop().time() - started
    assert [e.kind for e in proc.events] == ["start_failed", *["restart_failed"] * 3]
    assert all(str(bad) in e.detail for e in proc.events)
    assert proc.restarts == 3
    assert elapsed >= 0.05 + 0.1 + 0.2  # doubling backoff, not a spin


async def test_supervisor_starts_restarts_and_ends_on_stop(tmp_path: Path) -> None:
    binary = script(tmp_path / "bin" / "llama-server", FAKE_SERVER)
    (base,) = files(tmp_path, "base.gguf")
    proc = LlamaServerProcess(base, binary=binary, log_path=tmp_path / "x.log")
    task = asyncio.create_task(proc.supervise(poll_interval=0.01, initial_backoff=0.01))
    async with asyncio.timeout(10):
        while not proc.events:
            await asyncio.sleep(0.01)
        assert proc.events[0].kind == "started" and await proc.health()
        first = proc.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        while len(proc.events) < 3:
            await asyncio.sleep(0.01)
    assert [e.kind for e in proc.events] == ["started", "crashed", "restarted"]
    assert proc.pid != first and await proc.health()
    await proc.stop()
    async with asyncio.timeout(2):
        await task
    assert not proc.is_alive()
