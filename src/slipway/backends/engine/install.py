"""Find, build and cache llama.cpp's `llama-server`, the embedded engine for GGUF models.

slipway does not ship a compiled engine: wheels for every CPU and libc would
be a project of their own. Instead it builds `llama-server` once from the
llama.cpp sources that the `llama-cpp-python` sdist vendors (a pinned,
reproducible snapshot that PyPI already hosts, so no git or extra registry is
involved), and caches the result under the user cache directory keyed by that
version. A cache hit costs one `stat`; a build costs minutes, so everything
about it is explicit: progress, a build log kept on disk, and errors that name
the missing Debian package.

Lookup order (`find_llama_server`): the `SLIPWAY_LLAMA_SERVER` environment
variable (an operator's deliberate choice wins), then `llama-server` on PATH
(a system install or a GPU build the operator made), then the cache.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import platformdirs

from slipway.core.errors import SlipwayError

#: The llama-cpp-python release whose vendored llama.cpp we build. Bumping it
#: changes the cache key, so old and new engines live side by side.
LLAMA_CPP_PYTHON_VERSION = "0.3.36"

#: Environment variable naming an explicit llama-server binary.
ENGINE_ENV_VAR = "SLIPWAY_LLAMA_SERVER"

MANIFEST_NAME = "manifest.json"
BINARY_NAME = "llama-server"

#: Static by default: one self-contained binary is the simplest thing to
#: cache and copy. The UI flags keep the build offline (the server's web UI is
#: otherwise fetched from the network at configure time, and slipway never
#: serves it); OpenSSL is off because the engine only listens on loopback.
CMAKE_FLAGS: tuple[str, ...] = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DLLAMA_CURL=OFF",
    "-DGGML_NATIVE=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
)

#: `progress(stage, fraction)`: stage is a short human sentence, fraction is
#: 0..1 when known (the compile step reports CMake's percentage) else None.
InstallProgress = Callable[[str, float | None], None]

_PERCENT = re.compile(r"^\[\s*(\d{1,3})%\]")
_SHARED_LIB = re.compile(r"\.so(\.\d+)*$|\.dylib$")
_ENGINE_LIB = re.compile(r"^lib(llama|ggml|mtmd)[\w.+-]*(\.so(\.\d+)*|\.dylib)$")


class EngineInstallError(SlipwayError):
    """The engine could not be found, built or run."""

    code = "engine_install_failed"


@dataclass(frozen=True)
class EngineManifest:
    """What is in a cache entry; written last, so its presence means complete."""

    llama_cpp_python: str
    binary: str
    lib_dir: str | None
    origin: str
    server_version: str
    created: str
    cmake_flags: tuple[str, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "llama_cpp_python": self.llama_cpp_python,
                "binary": self.binary,
                "lib_dir": self.lib_dir,
                "origin": self.origin,
                "server_version": self.server_version,
                "created": self.created,
                "cmake_flags": list(self.cmake_flags),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> EngineManifest:
        raw = json.loads(text)
        lib_dir = raw.get("lib_dir")
        return cls(
            llama_cpp_python=str(raw["llama_cpp_python"]),
            binary=str(raw["binary"]),
            lib_dir=None if lib_dir is None else str(lib_dir),
            origin=str(raw.get("origin", "")),
            server_version=str(raw.get("server_version", "")),
            created=str(raw.get("created", "")),
            cmake_flags=tuple(str(f) for f in raw.get("cmake_flags", [])),
        )


# --------------------------------------------------------------------------- paths


def engine_cache_root() -> Path:
    """`<user cache>/slipway/engine`; honours XDG_CACHE_HOME via platformdirs."""
    return Path(platformdirs.user_cache_dir("slipway")) / "engine"


def engine_cache_dir(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path:
    return engine_cache_root() / f"llama-cpp-python-{version}"


def read_manifest(version: str = LLAMA_CPP_PYTHON_VERSION) -> EngineManifest | None:
    path = engine_cache_dir(version) / MANIFEST_NAME
    try:
        return EngineManifest.from_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError):
        return None


def cached_llama_server(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path | None:
    """The cached binary, or None when the cache entry is missing or incomplete."""
    manifest = read_manifest(version)
    if manifest is None:
        return None
    binary = engine_cache_dir(version) / manifest.binary
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    return None


def find_llama_server(version: str = LLAMA_CPP_PYTHON_VERSION) -> Path | None:
    """The llama-server to use, or None when it must be installed first.

    Raises EngineInstallError when SLIPWAY_LLAMA_SERVER is set but wrong: an
    explicit setting that silently falls back to another binary would make
    "which engine served this?" unanswerable.
    """
    explicit = os.environ.get(ENGINE_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineInstallError(
                f"{ENGINE_ENV_VAR}={explicit} is not an executable file",
                hint=f"Point it at a llama-server binary, or unset it to use the one on PATH or "
                f"`slipway engine install` (cache: {engine_cache_dir(version)}).",
            )
        return path.resolve()
    on_path = shutil.which(BINARY_NAME)
    if on_path:
        return Path(on_path).resolve()
    return cached_llama_server(version)


def engine_env(binary: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for running `binary`, with its shared libraries findable.

    A shared-library build copied into the cache still carries a RUNPATH
    pointing at its old build tree; LD_LIBRARY_PATH takes precedence over
    RUNPATH, so prepending the cache's lib dir makes the copy self-contained.
    Static builds (the default) need nothing.
    """
    env = dict(os.environ if base is None else base)
    lib_dirs: list[str] = []
    for candidate in (binary.parent, binary.parent.parent / "lib"):
        # Only llama.cpp's own libraries count: a binary in /usr/bin must not
        # put all of /usr/lib on the library path.
        if candidate.is_dir() and any(_ENGINE_LIB.match(p.name) for p in candidate.iterdir()):
            lib_dirs.append(str(candidate))
    if lib_dirs:
        var = "DYLD_LIBRARY_PATH" if sys.platform == "darwin" else "LD_LIBRARY_PATH"
        existing = env.get(var)
        env[var] = os.pathsep.join([*lib_dirs, *([existing] if existing else [])])
    return env


# --------------------------------------------------------------------------- checks


def check_llama_server(binary: Path, *, timeout: float = 30.0) -> str:
    """Run `binary --version` and return its version line; raise if it cannot run.

    This catches the failures a copied binary actually has: a missing shared
    library, a CPU without the instructions it was built for, a wrong platform.
    """
    try:
        done = subprocess.run(
            [str(binary), "--version"],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=engine_env(binary),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineInstallError(
            f"{binary} --version could not run: {exc}",
            hint="Reinstall the engine with `slipway engine install --force`.",
        ) from exc
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise EngineInstallError(
            f"{binary} --version exited with status {done.returncode}: {tail_text(output, 800)}",
            hint="Reinstall the engine with `slipway engine install --force`; "
            "if a shared library is missing, install the package that provides it.",
        )
    for line in output.splitlines():
        if line.startswith("version:"):
            return line.removeprefix("version:").strip()
    return output.splitlines()[0] if output else "unknown"


def _require_build_tools() -> None:
    """Fail before a download with the exact package to install."""
    missing: list[str] = []
    if shutil.which("cmake") is None:
        missing.append("cmake is not installed (Debian/Ubuntu: `apt-get install cmake`)")
    if not any(shutil.which(cxx) for cxx in ("c++", "g++", "clang++")):
        missing.append(
            "no C++ compiler (c++/g++/clang++) found (Debian/Ubuntu: `apt-get install build-essential`)"
        )
    if not any(shutil.which(tool) for tool in ("make", "ninja")):
        missing.append(
            "neither make nor ninja is installed (Debian/Ubuntu: `apt-get install build-essential`)"
        )
    if missing:
        raise EngineInstallError(
            "cannot build llama-server: " + "; ".join(missing),
            hint="Install the missing tools and run `slipway engine install` again, or set "
            f"{ENGINE_ENV_VAR} to an existing llama-server binary.",
        )


# --------------------------------------------------------------------------- install


def install_llama_server(
    *,
    version: str = LLAMA_CPP_PYTHON_VERSION,
    progress: InstallProgress | None = None,
    jobs: int | None = None,
    force: bool = False,
    extra_cmake_flags: Sequence[str] = (),
) -> Path:
    """Build llama-server from the pinned llama-cpp-python sdist and cache it.

    A cache hit returns at once. Concurrent installs (two terminals, parallel
    CI jobs sharing a cache) serialise on a lock file, and the second one
    finds the first one's result instead of building again.
    """
    report: InstallProgress = progress or (lambda _stage, _fraction: None)
    if not force:
        hit = cached_llama_server(version)
        if hit is not None:
            report(f"llama-server {version} already cached at {hit}", 1.0)
            return hit
    _require_build_tools()
    root = engine_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with install_lock(root):
        if not force:
            hit = cached_llama_server(version)
            if hit is not None:
                report(f"llama-server {version} cached by another install at {hit}", 1.0)
                return hit
        with tempfile.TemporaryDirectory(prefix="slipway-engine-") as tmp:
            work = Path(tmp)
            log_path = root / f"build-{version}.log"
            with log_path.open("w", encoding="utf-8") as log:
                source = _download_and_extract(version, work, log, report)
                build_dir = work / "build"
                flags = (*CMAKE_FLAGS, *extra_cmake_flags)
                report("configuring llama.cpp with CMake", None)
                run_logged(
                    ["cmake", "-S", str(source), "-B", str(build_dir), *flags],
                    log,
                    log_path,
                    step="CMake configure",
                )
                n_jobs = jobs or _usable_cpus()
                report(f"compiling llama-server with {n_jobs} jobs (several minutes)", 0.0)
                run_logged(
                    [
                        "cmake",
                        "--build",
                        str(build_dir),
                        "--config",
                        "Release",
                        "--target",
                        BINARY_NAME,
                        "-j",
                        str(n_jobs),
                    ],
                    log,
                    log_path,
                    step="compile",
                    on_line=lambda line: _report_percent(line, report),
                )
            built = _find_built_binary(build_dir)
            binary = _populate_cache(
                built,
                build_dir,
                version=version,
                origin=f"built from llama-cpp-python=={version} sdist",
                cmake_flags=flags,
            )
    report(f"llama-server {version} installed at {binary}", 1.0)
    return binary


def adopt_build(
    build_dir: Path,
    *,
    version: str = LLAMA_CPP_PYTHON_VERSION,
    cmake_flags: Sequence[str] = (),
) -> Path:
    """Copy an existing llama.cpp build of `version` into the cache.

    For a machine where llama-server was already compiled from the same
    sources (a CI cache, an earlier manual build): saves the full build.
    Shared libraries found next to the binary or under the build tree are
    copied too, so the entry survives deletion of `build_dir`.
    """
    build_dir = build_dir.resolve()
    built = _find_built_binary(build_dir)
    check_llama_server(built)
    root = engine_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with install_lock(root):
        return _populate_cache(
            built,
            build_dir,
            version=version,
            origin=f"adopted from {build_dir}",
            cmake_flags=tuple(cmake_flags),
        )


def _populate_cache(
    built: Path,
    build_dir: Path,
    *,
    version: str,
    origin: str,
    cmake_flags: Sequence[str],
) -> Path:
    """Stage the entry next to its final place, verify it, then rename it in.

    Readers only trust entries with a manifest, and the manifest is written
    inside the staging directory before the rename, so a crash mid-copy
    leaves nothing that looks installed.
    """
    final = engine_cache_dir(version)
    staging = final.with_name(final.name + f".staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    bin_dir = staging / "bin"
    bin_dir.mkdir(parents=True)
    binary = bin_dir / BINARY_NAME
    shutil.copy2(built, binary)
    libs = _shared_libs(build_dir)
    for lib in libs:
        # Keep soname symlinks as symlinks (libllama.so -> libllama.so.0 -> …)
        # so the entry holds one copy of each library.
        relative_link = lib.is_symlink() and "/" not in os.readlink(lib)
        shutil.copy2(lib, bin_dir / lib.name, follow_symlinks=not relative_link)
    for path in bin_dir.iterdir():
        if not path.is_symlink():
            _retarget_runpath(path, build_dir)
    server_version = check_llama_server(binary)
    manifest = EngineManifest(
        llama_cpp_python=version,
        binary=f"bin/{BINARY_NAME}",
        lib_dir="bin" if libs else None,
        origin=origin,
        server_version=server_version,
        created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        cmake_flags=tuple(cmake_flags),
    )
    (staging / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    if final.exists():
        old = final.with_name(final.name + f".old-{os.getpid()}")
        final.rename(old)
        shutil.rmtree(old, ignore_errors=True)
    staging.rename(final)
    return final / manifest.binary


def _retarget_runpath(path: Path, build_dir: Path) -> None:
    """Point a copied ELF file's RUNPATH at `$ORIGIN` instead of its build tree.

    A shared CMake build bakes the absolute build directory into every
    binary's RUNPATH; once copied into the cache, `$ORIGIN` (the file's own
    directory) is where its libraries are. The new string is shorter, so it is
    written in place, NUL-padded, only where the old one stands as a whole
    NUL-terminated string. Anything else is left alone: `engine_env` still
    covers it with LD_LIBRARY_PATH.
    """
    data = path.read_bytes()
    if not data.startswith(b"\x7fELF"):
        return
    patched = data
    for old_dir in {str(build_dir), str(build_dir.resolve())}:
        pattern = re.compile(rb"(?<=\x00)" + re.escape(old_dir.encode()) + rb"[^\x00]*\x00")
        patched = pattern.sub(
            lambda m: b"$ORIGIN" + b"\x00" * (len(m.group(0)) - len(b"$ORIGIN")),
            patched,
        )
    if patched != data:
        path.write_bytes(patched)


def _shared_libs(build_dir: Path) -> list[Path]:
    """Every shared library a shared build produced (none for a static build)."""
    found: dict[str, Path] = {}
    for path in sorted(build_dir.rglob("*")):
        if _SHARED_LIB.search(path.name) and "CMakeFiles" not in path.parts and path.is_file():
            found.setdefault(path.name, path)
    return list(found.values())


def _find_built_binary(build_dir: Path) -> Path:
    for candidate in (
        build_dir / "bin" / BINARY_NAME,
        build_dir / "bin" / "Release" / BINARY_NAME,
        build_dir / "tools" / "server" / BINARY_NAME,
    ):
        if candidate.is_file():
            return candidate
    raise EngineInstallError(
        f"no {BINARY_NAME} binary under {build_dir}",
        hint="The build finished without producing the server; see the build log.",
    )


def _download_and_extract(version: str, work: Path, log: TextIO, report: InstallProgress) -> Path:
    report(f"downloading llama-cpp-python=={version} sources from PyPI", None)
    download_dir = work / "sdist"
    download_dir.mkdir()
    run_logged(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-binary",
            ":all:",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            str(download_dir),
            f"llama-cpp-python=={version}",
        ],
        log,
        Path(log.name),
        step="pip download",
        missing_hint="pip is not available for this Python (Debian/Ubuntu: `apt-get install python3-pip`, "
        "or `python -m ensurepip`).",
    )
    archives = sorted(download_dir.glob("*.tar.gz"))
    if not archives:
        raise EngineInstallError(
            f"pip download produced no sdist archive in {download_dir}",
            hint="Check network access to PyPI, or set SLIPWAY_LLAMA_SERVER to an existing binary.",
        )
    report("extracting sources", None)
    extract_dir = work / "src"
    with tarfile.open(archives[0], "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(extract_dir, filter="data")
        else:  # Python 3.11 before 3.11.4: refuse members that escape the directory
            root = extract_dir.resolve()
            for member in tar.getmembers():
                target = (extract_dir / member.name).resolve()
                if not target.is_relative_to(root) or member.issym() or member.islnk():
                    raise EngineInstallError(
                        f"{archives[0].name} has an unsafe member {member.name!r}",
                        hint="The downloaded sdist is not what PyPI should serve; do not build it.",
                    )
            tar.extractall(extract_dir)
    sources = sorted(extract_dir.glob("*/vendor/llama.cpp/CMakeLists.txt"))
    if not sources:
        raise EngineInstallError(
            f"{archives[0].name} does not contain vendor/llama.cpp",
            hint="The pinned llama-cpp-python sdist changed layout; pin another version.",
        )
    return sources[0].parent


def run_logged(
    cmd: list[str],
    log: TextIO,
    log_path: Path,
    *,
    step: str,
    on_line: Callable[[str], None] | None = None,
    missing_hint: str | None = None,
) -> None:
    """Run a build step, streaming its output into the build log."""
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    lines: list[str] = []
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
    except OSError as exc:
        raise EngineInstallError(
            f"{step} could not start ({cmd[0]}): {exc}",
            hint=missing_hint or "Install the missing tool and try again.",
        ) from exc
    assert proc.stdout is not None
    with proc:
        for line in proc.stdout:
            log.write(line)
            lines.append(line)
            if len(lines) > 200:
                del lines[:100]
            if on_line is not None:
                on_line(line)
        code = proc.wait()
    log.flush()
    if code != 0:
        tail = tail_text("".join(lines), 1500)
        hint = f"Full log: {log_path}."
        if step == "pip download" and "No module named pip" in tail:
            hint = missing_hint or hint
        elif "CMAKE_CXX_COMPILER" in tail or "No CMAKE_C_COMPILER" in tail:
            hint = f"No working C/C++ compiler: `apt-get install build-essential`. {hint}"
        raise EngineInstallError(f"{step} failed with exit status {code}:\n{tail}", hint=hint)


def _report_percent(line: str, report: InstallProgress) -> None:
    match = _PERCENT.match(line)
    if match:
        report("compiling llama-server", min(int(match.group(1)), 100) / 100.0)


@contextlib.contextmanager
def install_lock(root: Path) -> Iterator[None]:
    # Never through a symbolic link: opening one planted here would create or truncate its target.
    path = root / ".install.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise EngineInstallError(
            f"cannot open the lock file {path}: {exc.strerror}",
            hint=f"if it is a symbolic link, remove it (rm {path}) and run the command again",
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _usable_cpus() -> int:
    """CPUs this process may run on (nproc), which can be fewer than the machine has."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def tail_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]
