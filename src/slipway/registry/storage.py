"""Writing into the registry without ever losing a version: copy beside, fsync, link into place.

`copy_new` writes the new file under a hidden temporary name in the target
directory, fsyncs it and then `os.link`s it to its final name, which fails
rather than replace an existing file; where hard links are not supported
(some network and FUSE filesystems) it falls back to `os.replace` after a
check made under `locked`. A crash therefore leaves either no new version or
a complete one, never half a file under a version's name; the temporary
file is removed on every path out.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from slipway.core.errors import RegistryError, VersionExistsError

LOCK_NAME = ".slipway-add.lock"
_CHUNK = 1 << 20


def disk_usage(path: Path) -> int:
    """Bytes the file occupies on disk (allocated blocks; sparse files count less than their size)."""
    st = path.stat()
    blocks = getattr(st, "st_blocks", None)
    return int(blocks) * 512 if blocks is not None else st.st_size


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def copy_new(source: Path, target: Path) -> str:
    """Copy to a temp file beside `target`, fsync, then link it into place; never overwrites."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, source.open("rb") as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise VersionExistsError(
                f"{target} appeared while it was being added; versions are never replaced",
                hint="Someone added the same version at the same time: list the versions and pick a new one.",
            ) from None
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise RegistryError(f"cannot write {target}: {exc.strerror}") from exc
            # No hard links here (some network/FUSE filesystems): we hold the lock and checked.
            if target.exists():
                raise VersionExistsError(f"{target} already exists; versions are never replaced") from None
            os.replace(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise RegistryError(
            f"cannot add {target.name} to {target.parent}: {exc.strerror or exc}",
            hint="Check free space and permissions of the models directory.",
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return digest.hexdigest()


def copy_new_dir(source: Path, target: Path) -> dict[str, str]:
    """Copy a directory's files into a temp directory beside `target`, fsync, rename into place.

    Only the top level's regular files are copied (symbolic links are
    followed: a Hugging Face cache links files to blobs); subdirectories
    such as training checkpoints are not part of an adapter. The rename is
    refused when `target` exists (checked under `locked`, as rename would
    replace an empty directory), so a version is never replaced, and a crash
    leaves a hidden `.partial` directory, never a half-copied version.
    Returns each file's sha256.
    """
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    digests: dict[str, str] = {}
    try:
        for item in sorted(source.iterdir()):
            if item.name.startswith(".") or not item.is_file():
                continue
            digests[item.name] = _copy_file(item, tmp / item.name)
        os.chmod(tmp, 0o755)
        fsync_dir(tmp)
        if target.exists() or target.is_symlink():
            raise VersionExistsError(
                f"{target} already exists; versions are never replaced",
                hint="Someone added the same version at the same time: list the versions and pick a new one.",
            )
        os.rename(tmp, target)
        fsync_dir(target.parent)
    except OSError as exc:
        raise RegistryError(
            f"cannot add {target.name} to {target.parent}: {exc.strerror or exc}",
            hint="Check free space and permissions of the models directory.",
        ) from exc
    finally:
        if tmp.exists():
            for leftover in tmp.iterdir():
                leftover.unlink()
            tmp.rmdir()
    return digests


def dir_sha256(directory: Path) -> str:
    """One digest for a directory's top-level files: names and contents, in name order."""
    digest = hashlib.sha256()
    for item in sorted(directory.iterdir()):
        if item.name.startswith(".") or not item.is_file():
            continue
        digest.update(f"{item.name}\0{file_sha256(item)}\n".encode())
    return digest.hexdigest()


def _copy_file(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    with source.open("rb") as src, target.open("xb") as out:
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(target, 0o644)
    return digest.hexdigest()


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)


def fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_lock_file(path: Path) -> int:
    """Open (creating) a lock file, refusing a symbolic link in its place.

    A lock file lives in a directory others may write to; following a link
    planted there (`.slipway-add.lock -> ~/.bashrc`) would create or touch a
    file wherever the link points, with our permissions. O_NOFOLLOW refuses
    the link itself, and the check after opening refuses anything that is
    not a plain file (a FIFO would block, a device would be written to).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP or path.is_symlink():
            raise RegistryError(
                f"{path} is a symbolic link; slipway's lock files must be plain files",
                hint=f"remove it (rm {path}) and run the command again; nothing was written",
            ) from None
        raise RegistryError(f"cannot open the lock file {path}: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RegistryError(
            f"{path} is not a plain file; slipway's lock files must be plain files",
            hint=f"remove it (rm {path}) and run the command again; nothing was written",
        )
    return fd


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One `add` at a time per adapters directory (processes included)."""
    fd = open_lock_file(directory / LOCK_NAME)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
