"""The per-slot counters behind /metrics: buckets as Prometheus defines them (le = less or equal)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from prometheus_client.core import Metric

from slipway.core.records import RequestRecord
from slipway.gateway.metrics import LATENCY_BUCKETS_S, TrafficMetrics


def rec(slot: str, latency_ms: float, **extra: Any) -> RequestRecord:
    base = RequestRecord(
        "id", 0.0, slot, f"{slot}-v", "openai.chat", False, 1, status=200, latency_ms=latency_ms
    )
    return replace(base, **extra)


def family(metrics: TrafficMetrics, name: str) -> Metric:
    return next(f for f in metrics.families() if f.name == name)


def test_a_latency_on_a_bound_counts_in_that_bucket_and_buckets_are_cumulative() -> None:
    m = TrafficMetrics()
    for ms in (5.0, 5.1, 250.0, 400_000.0):
        m.observe(rec("blue", ms))
    samples = {
        s.labels["le"]: s.value
        for s in family(m, "slipway_request_duration_seconds").samples
        if s.name.endswith("_bucket")
    }
    assert samples["0.005"] == 1 and samples["0.01"] == 2 and samples["0.25"] == 3
    assert samples[repr(LATENCY_BUCKETS_S[-1])] == 3 and samples["+Inf"] == 4


def test_requests_aborts_and_tokens_are_counted_per_slot_and_version() -> None:
    m = TrafficMetrics()
    m.observe(rec("blue", 10, output_tokens=7))
    m.observe(rec("blue", 10, output_tokens=3, aborted=True, error="client_disconnected"))
    m.observe(rec("green", 10, status=502, error="backend_unavailable"))
    requests = {(s.labels["slot"], s.labels["code"]): s.value for s in family(m, "slipway_requests").samples}
    assert requests == {("blue", "200"): 2, ("green", "502"): 1}
    aborts = [(s.labels["reason"], s.value) for s in family(m, "slipway_stream_aborts").samples]
    assert aborts == [("client_disconnected", 1)]
    tokens = {s.labels["slot"]: s.value for s in family(m, "slipway_output_tokens").samples}
    assert tokens == {"blue": 10}
