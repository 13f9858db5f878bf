"""Adapter file names: version, date and training examples, or a clear error (AD2)."""

from __future__ import annotations

import datetime as dt

import pytest

from slipway.core.errors import AdapterNameError
from slipway.registry.naming import (
    EXPECTED_FORM,
    AdapterName,
    format_adapter_name,
    parse_adapter_name,
    version_key,
)


@pytest.mark.parametrize(
    ("file_name", "version", "date", "examples"),
    [
        ("v2.1-2026-01-15-1247examples.gguf", "v2.1", dt.date(2026, 1, 15), 1247),
        ("v2.2-2026-02-12-1891examples.gguf", "v2.2", dt.date(2026, 2, 12), 1891),
        ("v3-2025-12-31-0examples.gguf", "v3", dt.date(2025, 12, 31), 0),
        ("v10.0.3-2024-02-29-5examples.gguf", "v10.0.3", dt.date(2024, 2, 29), 5),
        ("v2.2rc1-2026-02-10-1800examples.gguf", "v2.2rc1", dt.date(2026, 2, 10), 1800),
    ],
)
def test_parses_conforming_names(file_name: str, version: str, date: dt.date, examples: int) -> None:
    parsed = parse_adapter_name(file_name)
    assert parsed == AdapterName(version, date, examples)
    assert parsed.file_name == file_name


@pytest.mark.parametrize(
    ("file_name", "says"),
    [
        ("v2.1-2026-01-15-1247examples.bin", "does not end in .gguf"),
        ("adapter.gguf", "does not start with a version label"),
        ("2.1-2026-01-15-1247examples.gguf", "does not start with a version label"),
        ("V2.1-2026-01-15-1247examples.gguf", "does not start with a version label"),
        ("v2.1-2026-01-15.gguf", "needs a date"),
        ("v2.1-1247examples.gguf", "needs a date"),
        ("v2.1-26-01-15-1247examples.gguf", "is not a date in YYYY-MM-DD form"),
        ("v2.1-2026-01-15-1247.gguf", "is not '<N>examples'"),
        ("v2.1-2026-01-15-manyexamples.gguf", "is not '<N>examples'"),
        ("v2.1-2026-01-15-1247examples-final.gguf", "is not '<N>examples'"),
        ("v2,1-2026-01-15-1247examples.gguf", "does not start with a version label"),
    ],
)
def test_rejects_other_names_saying_what_is_wrong(file_name: str, says: str) -> None:
    with pytest.raises(AdapterNameError) as caught:
        parse_adapter_name(file_name)
    error = caught.value
    assert says in str(error)
    assert error.check == "file-name"
    assert error.path == file_name
    assert EXPECTED_FORM in str(error.expected)
    assert "v2.1-2026-01-15-1247examples.gguf" in str(error.expected)
    assert error.hint and "--version" in error.hint


def test_rejects_impossible_dates() -> None:
    with pytest.raises(AdapterNameError, match="not a real calendar date"):
        parse_adapter_name("v2.1-2026-02-30-1247examples.gguf")


def test_format_round_trips_and_checks_the_version() -> None:
    assert format_adapter_name("v2.3", dt.date(2026, 3, 1), 2000) == "v2.3-2026-03-01-2000examples.gguf"
    for bad in ("2.3", "v2-3", "v2.3:x", "latest"):
        with pytest.raises(AdapterNameError) as caught:
            format_adapter_name(bad, dt.date(2026, 3, 1), 1)
        assert caught.value.check == "version"
    with pytest.raises(AdapterNameError):
        format_adapter_name("v2.3", dt.date(2026, 3, 1), -1)


def test_versions_sort_numerically_with_release_after_its_candidates() -> None:
    labels = ["v10", "v2.10", "v2.9", "v2.2", "v2.2rc1", "v1", "v2.2rc2"]
    assert sorted(labels, key=version_key) == ["v1", "v2.2rc1", "v2.2rc2", "v2.2", "v2.9", "v2.10", "v10"]


def test_sort_key_orders_by_version_then_date() -> None:
    a = parse_adapter_name("v2.1-2026-01-15-1247examples.gguf")
    b = parse_adapter_name("v2.10-2025-01-01-10examples.gguf")
    c = parse_adapter_name("v2.2-2026-02-12-1891examples.gguf")
    assert sorted([b, c, a], key=lambda n: n.sort_key) == [a, c, b]
