"""The GGUF edge: header and damage checks turn gguf/numpy exceptions into GGUFErrors that say what to do."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from tests.gguf_files import lora_pair, truncate, write_adapter

from slipway.core.errors import GGUFError
from slipway.registry.reader import open_gguf, read_header


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    return write_adapter(tmp_path / "ok.gguf", lora_pair("output.weight", 12, 8), fingerprint="f" * 64)


def header(magic: bytes = b"GGUF", version: int = 3, tensors: int = 0, kv: int = 0) -> bytes:
    return magic + struct.pack("<IQQ", version, tensors, kv)


def test_reads_a_good_file(adapter: Path) -> None:
    opened = open_gguf(adapter)
    assert opened.version == 3
    assert opened.string("general.type") == "adapter"
    assert opened.number("adapter.lora.alpha") == 4.0
    a = opened.tensors["output.weight.lora_a"]
    assert a.ne == (8, 4)  # GGUF order
    assert a.numpy_shape == (4, 8)
    assert a.type_name == "F32"
    assert max(t.offset + t.n_bytes for t in opened.tensors.values()) <= opened.size


@pytest.mark.parametrize(
    ("content", "says", "found"),
    [
        (b"", "not a GGUF file", "an empty file"),
        (b"GGML" + b"\0" * 40, "not a GGUF file", "b'GGML'"),
        (b"PK\x03\x04" + b"\0" * 40, "not a GGUF file", "b'PK\\x03\\x04'"),
        (b"GGUF\x03\0", "ends inside its 24-byte header", "6 bytes"),
        (header(version=1), "unsupported GGUF version", "1"),
        (header(version=99), "unsupported GGUF version", "99"),
        (header(tensors=10**15), "more than a 24-byte file can hold", "1000000000000000 tensors, 0 keys"),
        (header(kv=7), "more than a 24-byte file can hold", "0 tensors, 7 keys"),
    ],
)
def test_header_problems(tmp_path: Path, content: bytes, says: str, found: str) -> None:
    path = tmp_path / "x.gguf"
    path.write_bytes(content)
    with pytest.raises(GGUFError) as caught:
        open_gguf(path)
    error = caught.value
    assert error.check == "header"
    assert error.path == str(path)
    assert says in error.reason
    assert error.found == found
    assert error.hint
    assert str(path) in str(error)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(GGUFError, match="does not exist") as caught:
        read_header(tmp_path / "nope.gguf")
    assert caught.value.check == "header"
    with pytest.raises(GGUFError, match="not a regular file"):
        read_header(tmp_path)


@pytest.mark.parametrize(
    ("keep", "check", "names_tensor"),
    [(0.9, "intact", True), (0.5, "intact", False), (100, "intact", False), (30, "header", False)],
)
def test_truncated_copies_are_named_as_such(
    adapter: Path, tmp_path: Path, keep: float | int, check: str, names_tensor: bool
) -> None:
    cut = truncate(adapter, tmp_path / "cut.gguf", keep=keep)
    with pytest.raises(GGUFError) as caught:
        open_gguf(cut)
    error = caught.value
    assert error.check == check
    assert "truncated" in error.reason
    assert ("output.weight.lora_" in error.reason) is names_tensor
    if check == "intact":
        assert error.found == f"{cut.stat().st_size} bytes"
        assert error.expected is not None and error.expected.startswith("at least ")
    assert error.hint and "again" in error.hint


def test_cutting_only_trailing_padding_is_not_damage(adapter: Path, tmp_path: Path) -> None:
    # llama.cpp reads each tensor's bytes, not the alignment padding after the last one.
    opened = open_gguf(adapter)
    end = max(t.offset + t.n_bytes for t in opened.tensors.values())
    cut = truncate(adapter, tmp_path / "cut.gguf", keep=end)
    assert open_gguf(cut).tensors.keys() == opened.tensors.keys()
    with pytest.raises(GGUFError, match="truncated"):
        open_gguf(truncate(adapter, tmp_path / "cut2.gguf", keep=end - 1))
