"""Open a GGUF file once, with the `gguf` package, and say precisely what is wrong with it.

`gguf.GGUFReader` raises bare ValueError/IndexError on a damaged file ("index
0 is out of bounds for axis 0 with size 0"). This module is the edge where
those become `GGUFError`s that name the file and the check:

* `header`: the fixed 24-byte header read with `struct` first — the magic
  "GGUF", a version this reader supports, tensor and key counts that fit in
  the file — so a file that is not GGUF at all, or whose header bytes were
  overwritten, gets a message about that rather than about numpy.
* `intact`: the metadata and tensor table parse, and every tensor's data
  lies inside the file. A copy or download cut short fails here with the
  tensor whose bytes are missing and how many bytes the file should have.

What comes back, `GGUFFile`, holds the parsed keys (scalars, strings and
short arrays as Python values; long arrays only by length) and each
tensor's name, GGUF shape (ne order: ne[0] is the row length) and type.
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gguf
import numpy as np

from slipway.core.errors import GGUFError

MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)

#: The smallest possible key/value (8-byte key length, 1-byte key, 4-byte
#: type, 1-byte value) and tensor info (8 + 1 name, 4 n_dims, 8 dim, 4 type,
#: 8 offset): a header claiming more than the file can hold is corrupt.
_MIN_KV_BYTES = 14
_MIN_TENSOR_INFO_BYTES = 33

#: Arrays longer than this are kept as a length only (token lists are read
#: on demand by `fingerprint`, which needs every string).
_MAX_ARRAY_VALUES = 64


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as the file declares it."""

    name: str
    #: GGUF/ggml order: ne[0] (the contiguous row length) first.
    ne: tuple[int, ...]
    type_name: str
    n_bytes: int
    offset: int

    @property
    def numpy_shape(self) -> tuple[int, ...]:
        """numpy order (rows first), as `gguf` and the issue text write shapes."""
        return tuple(reversed(self.ne))


@dataclass(frozen=True)
class GGUFFile:
    """A GGUF file that passed `header` and `intact`."""

    path: Path
    size: int
    version: int
    fields: Mapping[str, Any]
    tensors: Mapping[str, TensorInfo]
    #: Array lengths of keys kept by length only (e.g. tokenizer.ggml.tokens).
    array_lengths: Mapping[str, int] = field(default_factory=dict)
    #: The open reader, for what needs more than the summary (the fingerprint).
    reader: Any = field(default=None, repr=False, compare=False)

    def string(self, key: str) -> str | None:
        value = self.fields.get(key)
        return value if isinstance(value, str) else None

    def number(self, key: str) -> float | None:
        value = self.fields.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value


def read_header(path: Path) -> tuple[int, int, int, int]:
    """(file size, version, tensor count, key count) from the fixed header, or GGUFError (`header`)."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise _header_error(path, "it is not a regular file", found="a directory or special file")
        with path.open("rb") as handle:
            head = handle.read(24)
    except FileNotFoundError:
        raise GGUFError(
            "the file does not exist",
            path=str(path),
            check="header",
            hint="Check the path (and the --models-dir / SLIPWAY_MODELS_DIR it is relative to).",
        ) from None
    except PermissionError:
        raise GGUFError(
            "the file cannot be read (permission denied)",
            path=str(path),
            check="header",
            hint="Fix the file's permissions for the user running slipway.",
        ) from None
    except OSError as exc:
        raise GGUFError(
            f"the file cannot be read: {exc.strerror or exc}",
            path=str(path),
            check="header",
            hint="Check the disk and the path.",
        ) from None
    if len(head) < 4 or head[:4] != MAGIC:
        raise _header_error(
            path,
            "this is not a GGUF file (wrong magic bytes)",
            found=repr(head[:4]) if head else "an empty file",
            expected=repr(MAGIC),
            hint="Use a .gguf file written by llama.cpp's converters or the gguf package; "
            "if it was downloaded or copied, fetch it again.",
        )
    if len(head) < 24:
        raise _header_error(
            path,
            f"the file ends inside its 24-byte header ({size} bytes)",
            found=f"{size} bytes",
            expected="at least 24 bytes",
            hint="The file is truncated: copy or download it again.",
        )
    version, n_tensors, n_kv = struct.unpack("<IQQ", head[4:24])
    if version not in SUPPORTED_VERSIONS:
        raise _header_error(
            path,
            "unsupported GGUF version",
            found=str(version),
            expected=" or ".join(str(v) for v in SUPPORTED_VERSIONS),
            hint="Re-convert the model with a current llama.cpp (convert_hf_to_gguf.py / "
            "convert_lora_to_gguf.py), or the header bytes are damaged: fetch the file again.",
        )
    room = max(size - 24, 0)
    if n_kv * _MIN_KV_BYTES > room or n_tensors * _MIN_TENSOR_INFO_BYTES > room:
        raise _header_error(
            path,
            f"the header claims {n_tensors} tensors and {n_kv} metadata keys, "
            f"more than a {size}-byte file can hold: the file is truncated or its header is corrupt",
            found=f"{n_tensors} tensors, {n_kv} keys",
            expected=f"counts that fit in {size} bytes",
            hint="The file is damaged or was cut short: copy or download it again.",
        )
    return size, version, n_tensors, n_kv


def open_gguf(path: str | os.PathLike[str]) -> GGUFFile:
    """Read and check a GGUF file; GGUFError with check `header` or `intact` if it is damaged."""
    path = Path(path)
    size, version, _n_tensors, _n_kv = read_header(path)
    try:
        with warnings.catch_warnings():
            # numpy may warn on garbage values; a damaged file is reported below either way.
            warnings.simplefilter("ignore")
            reader = _CheckedReader(path)
    except _Truncated as cut:
        raise GGUFError(
            f"the file is truncated: tensor {cut.tensor!r} needs bytes up to {cut.end} "
            f"but the file ends at {cut.size}",
            path=str(path),
            check="intact",
            found=f"{cut.size} bytes",
            expected=f"at least {cut.end} bytes",
            hint="The copy or download was cut short: copy or download the file again.",
        ) from None
    except _PastEnd as cut:
        raise GGUFError(
            f"reading the metadata ran past the end of the file (needed bytes up to {cut.end}, "
            f"the file has {cut.size}): the file is truncated, or a length in it is corrupt",
            path=str(path),
            check="intact",
            found=f"{cut.size} bytes",
            expected=f"at least {cut.end} bytes",
            hint="The file is damaged or was cut short: copy or download it again.",
        ) from None
    except (ValueError, IndexError, KeyError, OverflowError, MemoryError, UnicodeDecodeError) as exc:
        raise GGUFError(
            f"the metadata or tensor table cannot be parsed ({type(exc).__name__}: {exc}): "
            "the file is corrupt or truncated",
            path=str(path),
            check="intact",
            found=f"unreadable metadata in a {size}-byte file",
            expected="a well-formed GGUF key/value section and tensor table",
            hint="The file is damaged: copy or download it again, or re-convert it.",
        ) from None
    fields: dict[str, Any] = {}
    lengths: dict[str, int] = {}
    for name, reader_field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        value, length = _field_value(reader_field)
        if length is not None:
            lengths[name] = length
        else:
            fields[name] = value
    tensors = {
        str(t.name): TensorInfo(
            name=str(t.name),
            ne=tuple(int(d) for d in t.shape),
            type_name=t.tensor_type.name,
            n_bytes=int(t.n_bytes),
            offset=int(t.data_offset),
        )
        for t in reader.tensors
    }
    return GGUFFile(path, size, version, fields, tensors, lengths, reader)


def _field_value(reader_field: Any) -> tuple[Any, int | None]:
    """(value, None) for scalars, strings and short arrays; (None, length) for long arrays."""
    types = list(reader_field.types)
    if not types:
        return None, None
    if types[0] == gguf.GGUFValueType.ARRAY:
        n = len(reader_field.data)
        if n > _MAX_ARRAY_VALUES:
            return None, n
    try:
        return reader_field.contents(), None
    except (UnicodeDecodeError, ValueError, IndexError):
        return None, None


class _Truncated(Exception):
    def __init__(self, tensor: str, end: int, size: int) -> None:
        self.tensor, self.end, self.size = tensor, end, size
        super().__init__(tensor)


class _PastEnd(Exception):
    def __init__(self, end: int, size: int) -> None:
        self.end, self.size = end, size
        super().__init__(end)


class _CheckedReader(gguf.GGUFReader):
    """GGUFReader that stops at the first read past the end of the file, and names it.

    The stock reader would fail with "index 0 is out of bounds" or "cannot
    reshape array of size …" deep in numpy. These hooks use internals of the
    pinned gguf version (`_get`, and the tensor-info layout name_len, name,
    n_dims, dims, type, offset) — the tests build truncated files, so a
    change there shows up at once.
    """

    def _get(self, offset: int, dtype: Any, count: int = 1, override_order: Any = None) -> Any:
        end = int(offset) + np.dtype(dtype).itemsize * int(count)
        if end > len(self.data):
            raise _PastEnd(end, len(self.data))
        return super()._get(offset, dtype, count, override_order)

    def _build_tensors(self, start_offs: int, fields: list[Any]) -> None:
        size = len(self.data)
        for info in fields:
            _len, name_data, _n_dims, dims, raw_dtype, offset_tensor = info.parts
            ggml_type = gguf.GGMLQuantizationType(int(raw_dtype[0]))
            block_size, type_size = gguf.GGML_QUANT_SIZES[ggml_type]
            n_elems = 1
            for d in dims.tolist():
                n_elems *= int(d)
            end = int(start_offs) + int(offset_tensor[0]) + n_elems * type_size // block_size
            if end > size:
                raise _Truncated(bytes(name_data).decode("utf-8", errors="replace"), end, size)
        super()._build_tensors(start_offs, fields)


def _header_error(
    path: Path,
    message: str,
    *,
    found: str | None = None,
    expected: str | None = None,
    hint: str | None = None,
) -> GGUFError:
    return GGUFError(message, path=str(path), check="header", found=found, expected=expected, hint=hint)
