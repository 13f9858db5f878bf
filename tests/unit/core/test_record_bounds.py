"""One statement of what a stored request record can hold, and bringing a refused record within it."""

from __future__ import annotations

import math
from dataclasses import fields, replace

from sqlalchemy import Boolean, Double, Integer, String, Text

from slipway.core.record_bounds import INT4_MAX, INT4_MIN, RECORD_BOUNDS, fit_record
from slipway.core.records import RequestRecord
from slipway.store.schema import requests


def good() -> RequestRecord:
    return RequestRecord(
        request_id="a" * 32, started_at=1_700_000_000.5, slot="blue", version="v2.1", api="openai.chat",
        stream=True, route_version=3, category="billing", sticky_key="user-1", status=200, error=None,
        latency_ms=12.5, ttft_ms=3.0, output_chars=40, output_tokens=9, output_head="Bonjour 🚀",
        aborted=False,
    )  # fmt: skip


def test_every_record_field_has_a_bound_and_the_store_columns_agree_with_it() -> None:
    assert set(RECORD_BOUNDS) == {f.name for f in fields(RequestRecord)}
    kinds = {"text": (String, Text), "int": (Integer,), "float": (Double,), "bool": (Boolean,)}
    for name, bound in RECORD_BOUNDS.items():
        column = requests.c[name]
        assert isinstance(column.type, kinds[bound.kind]), name
        assert column.nullable == bound.nullable or column.primary_key, name
        if bound.kind == "text":
            assert isinstance(column.type, String), name  # Text is a String: narrows for .length
            length = None if isinstance(column.type, Text) else column.type.length
            assert length == bound.max_chars, name


def test_a_record_within_bounds_is_returned_as_it_is() -> None:
    record = good()
    assert fit_record(record) == (record, ())
    assert fit_record(record)[0] is record


def test_text_is_cut_to_its_column_and_cleared_of_what_postgresql_refuses() -> None:
    record = replace(
        good(),
        category="c" * 201,
        sticky_key="k" * 5_000,
        output_head="before\x00after",
        error="broken \ud800 surrogate",
    )
    fixed, changes = fit_record(record)
    assert fixed.category == "c" * 200
    assert fixed.sticky_key == "k" * 400
    assert fixed.output_head == "beforeafter"
    assert fixed.error is not None and fixed.error.encode("utf-8")
    assert "category cut from 201 to 200 characters" in changes
    assert "output_head: NUL characters removed" in changes
    assert len(changes) == 4


def test_integers_are_clamped_to_postgresqls_32_bit_integer() -> None:
    fixed, changes = fit_record(
        replace(good(), output_tokens=18_446_744_073_709_551_615, output_chars=-(2**70), status=10**5000)
    )
    assert (fixed.output_tokens, fixed.output_chars, fixed.status) == (INT4_MAX, INT4_MIN, INT4_MAX)
    assert "output_tokens 18446744073709551615 clamped to 2147483647" in changes
    assert any(c.startswith("status a number too long to print clamped") for c in changes)


def test_floats_that_are_not_finite_become_null_or_zero() -> None:
    fixed, changes = fit_record(replace(good(), latency_ms=math.nan, ttft_ms=math.inf, started_at=-math.inf))
    assert (fixed.latency_ms, fixed.ttft_ms, fixed.started_at) == (0.0, None, 0.0)
    assert len(changes) == 3


def test_values_of_the_wrong_type_are_converted_or_emptied() -> None:
    record = replace(good(), output_tokens=12.7, category=7, slot=None, aborted=1, route_version="x")  # type: ignore[arg-type]
    fixed, changes = fit_record(record)
    assert (fixed.output_tokens, fixed.category, fixed.slot, fixed.aborted) == (12, "7", "", True)
    assert fixed.route_version == 0
    assert len(changes) == 5
