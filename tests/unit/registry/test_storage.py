"""Writing a version: complete or not at all, and never over an existing file."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from pathlib import Path

import pytest

from slipway.core.errors import VersionExistsError
from slipway.registry.storage import copy_new, locked, write_json_atomic


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".partial"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src.gguf"
    path.write_bytes(os.urandom(3 * (1 << 20) + 17))  # more than one copy chunk
    return path


def test_copies_and_returns_the_sha256(source: Path, tmp_path: Path) -> None:
    target_dir = tmp_path / "adapters"
    target_dir.mkdir()
    target = target_dir / "v1-2026-01-01-1examples.gguf"
    digest = copy_new(source, target)
    assert target.read_bytes() == source.read_bytes()
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert leftovers(target_dir) == []
    assert target.stat().st_mode & 0o777 == 0o644


def test_never_overwrites(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "v1-2026-01-01-1examples.gguf"
    target.write_bytes(b"the version that was there first")
    with pytest.raises(VersionExistsError):
        copy_new(source, target)
    assert target.read_bytes() == b"the version that was there first"
    assert leftovers(tmp_path) == []


def test_without_hard_links_it_still_refuses_to_overwrite(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(src: object, dst: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "v1-2026-01-01-1examples.gguf"
    copy_new(source, target)
    assert target.read_bytes() == source.read_bytes()
    with pytest.raises(VersionExistsError):
        copy_new(source, target)
    assert leftovers(tmp_path) == []


def test_json_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "v1.json"
    write_json_atomic(path, {"b": 1, "a": "x"})
    write_json_atomic(path, {"notes": "second"})
    assert json.loads(path.read_text()) == {"notes": "second"}
    assert leftovers(tmp_path) == []


def test_the_lock_can_be_taken_again_after_release(tmp_path: Path) -> None:
    with locked(tmp_path):
        pass
    with locked(tmp_path):
        assert (tmp_path / ".slipway-add.lock").exists()
