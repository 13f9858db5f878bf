"""Per-slot request counters and latency histograms for Prometheus.

Argo Rollouts and Flagger users already judge canaries from Prometheus; these
series let them watch slipway's slots the same way, and let dashboards show
the split as it moves. They are counted in plain dicts when a request's
record is handed to the recorder (a dict lookup and a bisect, well under a
microsecond) and turned into Prometheus families only when scraped, so the
hot path pays nothing for the exposition format. They count every request,
including any the recorder had to drop under overload.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from slipway.core.records import RequestRecord

Key = TypeVar("Key", bound=tuple[str, ...])

#: Seconds; an LLM request spans milliseconds (a cached classifier) to minutes (a long generation).
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
TTFT_BUCKETS_S: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(slots=True)
class _Histogram:
    bounds: Sequence[float]
    #: One count per bound, plus the +Inf bucket; not cumulative (the exposition makes them so).
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else repr(bound), float(running)))
        return out


class TrafficMetrics:
    """What the gateway served, per slot and version, since this process started."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str, str], int] = {}
        self._aborted: dict[tuple[str, str, str], int] = {}
        self._tokens: dict[tuple[str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._ttft: dict[tuple[str, str], _Histogram] = {}

    def observe(self, rec: RequestRecord) -> None:
        """Count one finished request. Called on the request path: never raises, never allocates much."""
        arm = (rec.slot, rec.version)
        key = (rec.slot, rec.version, rec.api, str(rec.status))
        self._requests[key] = self._requests.get(key, 0) + 1
        if rec.aborted:
            why = (rec.slot, rec.version, rec.error or "unknown")
            self._aborted[why] = self._aborted.get(why, 0) + 1
        if rec.output_tokens:
            self._tokens[arm] = self._tokens.get(arm, 0) + rec.output_tokens
        latency = self._latency.get(arm)
        if latency is None:
            latency = self._latency[arm] = _Histogram(LATENCY_BUCKETS_S)
        latency.observe(rec.latency_ms / 1000.0)
        if rec.ttft_ms is not None:
            ttft = self._ttft.get(arm)
            if ttft is None:
                ttft = self._ttft[arm] = _Histogram(TTFT_BUCKETS_S)
            ttft.observe(rec.ttft_ms / 1000.0)

    def families(self) -> Iterator[Metric]:
        yield _counter(
            "slipway_requests",
            "Requests the gateway answered, by slot, version, client API and HTTP status.",
            ["slot", "version", "api", "code"],
            self._requests,
        )
        yield _counter(
            "slipway_stream_aborts",
            "Answers cut short: the client left, or the backend failed mid-stream.",
            ["slot", "version", "reason"],
            self._aborted,
        )
        yield _counter(
            "slipway_output_tokens",
            "Tokens generated, where the backend reported them.",
            ["slot", "version"],
            self._tokens,
        )
        for name, doc, series in (
            ("slipway_request_duration_seconds", "Time from the request to its last byte.", self._latency),
            ("slipway_time_to_first_token_seconds", "Time from the request to the first output.", self._ttft),
        ):
            family = HistogramMetricFamily(name, doc, labels=["slot", "version"])
            for arm, histogram in sorted(series.items()):
                family.add_metric(list(arm), histogram.cumulative(), sum_value=histogram.total)
            yield family


def _counter(name: str, doc: str, labels: list[str], series: Mapping[Key, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for key, n in sorted(series.items()):
        family.add_metric(list(key), n)
    return family
