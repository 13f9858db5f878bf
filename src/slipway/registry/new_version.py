"""Naming a new adapter version, and refusing one that exists: versions are never replaced.

The name's three parts (version, training date, examples) come from the
options, else the file or directory name, else (for a GGUF file) slipway's
own metadata in it; what is still missing is named as the options to pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path
from typing import Any

from slipway.core.errors import (
    AdapterNameError,
    GGUFError,
    VersionExistsError,
)
from slipway.registry.entries import ModelEntry
from slipway.registry.naming import (
    AdapterName,
    format_adapter_name,
    parse_adapter_dir_name,
    parse_adapter_name,
    version_key,
)
from slipway.registry.reader import open_gguf


def resolve_file_name(
    source: Path, *, version: str | None, date: dt.date | None, examples: int | None
) -> AdapterName:
    """From the options, else the file's name, else the adapter's own slipway metadata."""
    parsed: AdapterName | None = None
    name_error: AdapterNameError | None = None
    try:
        parsed = parse_adapter_name(source.name)
    except AdapterNameError as exc:
        name_error = exc
    fields: dict[str, Any] = {}
    if version is None or date is None or examples is None:
        with contextlib.suppress(GGUFError):
            fields = dict(open_gguf(source).fields)
    final_examples = examples
    if final_examples is None:
        final_examples = parsed.examples if parsed else _int(fields.get("slipway.training.examples"))
    return _named(
        source,
        version or (parsed.version if parsed else None) or _str(fields.get("slipway.version")),
        date or (parsed.date if parsed else None) or _date(fields.get("slipway.created")),
        final_examples,
        because=name_error.reason if name_error else "the file name lacks them",
        unrecorded="the adapter's metadata does not say",
        expected="v2.1-2026-01-15-1247examples.gguf, or the missing parts as options",
    )


def resolve_dir_name(
    source: Path, *, version: str | None, date: dt.date | None, examples: int | None
) -> AdapterName:
    """From the options, else the directory's name; a PEFT config records none of the three."""
    parsed: AdapterName | None = None
    name_error: AdapterNameError | None = None
    try:
        parsed = parse_adapter_dir_name(source.name)
    except AdapterNameError as exc:
        name_error = exc
    return _named(
        source,
        version or (parsed.version if parsed else None),
        date or (parsed.date if parsed else None),
        examples if examples is not None else (parsed.examples if parsed else None),
        because=name_error.reason if name_error else "the directory name lacks them",
        unrecorded="a PEFT adapter_config.json does not record",
        expected="a directory named v2.1-2026-01-15-1247examples, or the missing parts as options",
    )


def _named(
    source: Path,
    version: str | None,
    date: dt.date | None,
    examples: int | None,
    *,
    because: str,
    unrecorded: str,
    expected: str,
) -> AdapterName:
    """The version's name from its three parts, or an error naming the options that would supply them."""
    missing = [
        flag
        for flag, value in (("--version", version), ("--date", date), ("--examples", examples))
        if value is None
    ]
    if missing:
        raise AdapterNameError(
            f"cannot name the new version: {because}, and {unrecorded} "
            f"{' / '.join(m.removeprefix('--') for m in missing)}",
            path=str(source),
            check="file-name",
            found=repr(source.name),
            expected=expected,
            hint=f"Pass {' '.join(m + ' ...' for m in missing)} to `slipway adapters add`.",
        )
    assert version is not None and date is not None and examples is not None
    return parse_adapter_name(format_adapter_name(version, date, examples))


def refuse_existing(model: ModelEntry, name: AdapterName) -> None:
    for existing in model.adapters:
        if existing.path.name in (name.file_name, name.dir_name) or (
            existing.name is not None and version_key(existing.name.version) == version_key(name.version)
        ):
            raise VersionExistsError(
                f"model {model.name!r} already has version {name.version} ({existing.path.name}); "
                "versions are never replaced or deleted",
                hint="Give the new adapter a new version (e.g. --version "
                f"{_next_version(name.version)}); rolling back to the existing one stays possible.",
            )


def _next_version(version: str) -> str:
    numbers, _tag = version_key(version)
    if not numbers:
        return "v1.0"
    return "v" + ".".join(str(n) for n in (*numbers[:-1], numbers[-1] + 1))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _date(value: Any) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None
