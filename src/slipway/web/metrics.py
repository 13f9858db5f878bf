"""`GET /metrics`: the gateway's state and traffic in Prometheus' text format.

The traffic series come from the recorder's counters (`gateway.metrics`);
everything else is read from the same snapshot `slipway status` shows, so the
two never disagree: the route and its weights, the recorder's health, the
engines slipway runs, and a canary or shadow run in progress.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from slipway import __version__
from slipway.gateway.connections import ConnectionStats
from slipway.gateway.metrics import TrafficMetrics
from slipway.web.status import Status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def render(status: Status, traffic: TrafficMetrics | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(status, traffic))
    return generate_latest(registry)


class _Snapshot(Collector):
    def __init__(self, status: Status, traffic: TrafficMetrics | None) -> None:
        self._status = status
        self._traffic = traffic

    def collect(self) -> Iterator[Metric]:
        yield InfoMetricFamily("slipway_build", "slipway's version.", value={"version": __version__})
        yield from _route(self._status)
        yield from _recorder(self._status)
        yield from _engines(self._status.engines)
        yield from _connections(self._status.connections)
        yield from _rollouts(self._status)
        yield from _replicas(self._status)
        yield from _drill(self._status)
        if self._traffic is not None:
            yield from self._traffic.families()


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _route(status: Status) -> Iterator[Metric]:
    route = status.route
    yield _gauge("slipway_route_version", "Version of the route table in force.", route.version)
    yield _gauge("slipway_in_flight_requests", "Requests being answered now.", status.in_flight)
    weight = GaugeMetricFamily(
        "slipway_slot_weight_ratio",
        "Share of new requests each slot gets (0 to 1).",
        labels=["slot", "version"],
    )
    active = GaugeMetricFamily("slipway_slot_active", "1 for the active slot, else 0.", labels=["slot"])
    unloaded = GaugeMetricFamily(
        "slipway_slot_unloaded",
        "1 for a standby slot whose model was unloaded (a rollback to it loads it first), else 0.",
        labels=["slot"],
    )
    for slot in status.slots:
        weight.add_metric([slot.name, slot.version], slot.weight_pct / 100)
        active.add_metric([slot.name], 1.0 if slot.state == "active" else 0.0)
        unloaded.add_metric([slot.name], 1.0 if slot.unloaded is not None else 0.0)
    yield weight
    yield active
    yield unloaded
    drifted = GaugeMetricFamily(
        "slipway_input_drift",
        "1 when the active version's input mix moved from its reference in this dimension, else 0.",
        labels=["dimension"],
    )
    psi = GaugeMetricFamily(
        "slipway_input_drift_psi",
        "Population stability index of the active version's live inputs against its reference.",
        labels=["dimension"],
    )
    for d in (status.drift or {}).get("dimensions", []):
        drifted.add_metric([str(d["dimension"])], 1.0 if d["drifted"] else 0.0)
        psi.add_metric([str(d["dimension"])], float(d["psi"]))
    yield drifted
    yield psi
    mirror = route.mirror
    yield _gauge(
        "slipway_mirror_sample_ratio",
        "Share of requests copied to a shadow candidate (0 when none is mirrored).",
        mirror.sample_pct / 100 if mirror is not None else 0.0,
    )


def _drill(status: Status) -> Iterator[Metric]:
    """The last rollback drill, for an alert on "no passing drill in N days" (nothing before the first)."""
    last = (status.drill or {}).get("last")
    if not last:
        return
    yield _gauge(
        "slipway_drill_last_timestamp_seconds", "When the last rollback drill ran.", float(last["at"])
    )
    yield _gauge(
        "slipway_drill_last_passed", "1 when the last rollback drill passed, else 0.", float(last["passed"])
    )
    if last.get("switch_ms") is not None:
        yield _gauge(
            "slipway_drill_last_switch_seconds",
            "The last drill's switch time to the standby, on its slowest replica.",
            float(last["switch_ms"]) / 1000,
        )


def _recorder(status: Status) -> Iterator[Metric]:
    rec = status.recorder
    records = CounterMetricFamily(
        "slipway_recorder_records",
        "Request records by fate: written to the store, dropped when the queue was full, "
        "or lost in a failed write.",
        labels=["outcome"],
    )
    records.add_metric(["written"], rec["written"])
    records.add_metric(["dropped"], rec["dropped"])
    records.add_metric(["lost"], rec["lost_in_failed_writes"])
    yield records
    yield _gauge("slipway_recorder_pending", "Records waiting to be written.", rec["pending"])
    lost = CounterMetricFamily(
        "slipway_recorder_lost_records",
        "Request records never written, by reason: queue_full (dropped), refused_by_store "
        "(refused even within the columns' bounds), unwritten_at_stop (store unavailable at stop), "
        "writer_error (a fault in slipway's writer, logged).",
        labels=["reason"],
    )
    reasons = {"queue_full", "refused_by_store", "unwritten_at_stop", "writer_error", *rec.get("lost", {})}
    for reason in sorted(reasons):
        lost.add_metric([reason], rec.get("lost", {}).get(reason, 0))
    yield lost
    yield CounterMetricFamily(
        "slipway_recorder_sanitised_records",
        "Request records the store refused, then stored with values cut or clamped to their columns.",
        value=rec.get("sanitised", 0),
    )
    yield CounterMetricFamily(
        "slipway_recorder_write_failures",
        "Failed write attempts (retries included).",
        value=rec["write_failures"],
    )
    yield _gauge("slipway_recorder_up", "1 while the record writer runs.", 1.0 if rec.get("alive") else 0.0)
    yield _gauge(
        "slipway_recorder_store_unavailable",
        "1 while the store is unavailable to the recorder (it keeps the records and retries).",
        0.0 if rec.get("store_unavailable_since") is None else 1.0,
    )
    if rec.get("last_write_at") is not None:
        yield _gauge(
            "slipway_recorder_last_write_timestamp_seconds",
            "When the recorder last wrote to the store.",
            rec["last_write_at"],
        )
    previous = rec.get("previous_run") or {}
    yield _gauge(
        "slipway_recorder_previous_run_unclean",
        "1 when the previous run on this store stopped without a clean stop (killed or crashed).",
        0.0 if previous.get("clean", True) else 1.0,
    )
    yield _gauge(
        "slipway_recorder_previous_run_probably_lost_records",
        "Request records the previous run probably never wrote because it was killed or crashed.",
        previous.get("probably_lost", 0),
    )


def _engines(engines: Mapping[str, Mapping[str, Any]]) -> Iterator[Metric]:
    up = GaugeMetricFamily("slipway_engine_up", "1 when the llama-server is ready.", labels=["engine"])
    restarts = CounterMetricFamily(
        "slipway_engine_restarts", "Times slipway restarted the llama-server.", labels=["engine"]
    )
    memory = GaugeMetricFamily(
        "slipway_engine_resident_memory_bytes",
        "The llama-server's resident memory: the cost of keeping its slots loaded.",
        labels=["engine"],
    )
    for name, engine in sorted(engines.items()):
        up.add_metric([name], 1.0 if engine.get("ready") else 0.0)
        restarts.add_metric([name], engine.get("restarts", 0))
        if engine.get("rss_mb") is not None:
            memory.add_metric([name], engine["rss_mb"] * 2**20)
    yield up
    yield restarts
    yield memory


def _rollouts(status: Status) -> Iterator[Metric]:
    canary = status.canary
    state = GaugeMetricFamily(
        "slipway_canary_info",
        "The latest canary or bake: 1, labelled with its version, status and kind (canary or bake).",
        labels=["version", "status", "kind"],
    )
    if canary is not None:
        state.add_metric([canary.version, canary.status, canary.kind], 1.0)
    yield state
    yield _gauge(
        "slipway_canary_weight_ratio",
        "The canary candidate's share of traffic (0 when no canary runs).",
        canary.weight_pct / 100 if canary is not None else 0.0,
    )
    yield _gauge(
        "slipway_canary_uncovered_categories",
        "Categories with enough traffic to be required that the last check lacked the labels to judge.",
        float(canary.uncovered) if canary is not None else 0.0,
    )
    shadow = status.shadow
    shadow_state = GaugeMetricFamily(
        "slipway_shadow_info",
        "The latest shadow run: 1, labelled with its version and status.",
        labels=["version", "status"],
    )
    copies = CounterMetricFamily(
        "slipway_shadow_copies",
        "Mirrored copies of requests by fate, since this process started.",
        labels=["outcome"],
    )
    if shadow is not None:
        shadow_state.add_metric([shadow.version, shadow.status], 1.0)
        stats = shadow.mirror
        copies.add_metric(["sent"], stats.sent)
        copies.add_metric(["dropped"], stats.dropped)
        copies.add_metric(["candidate_errors"], stats.candidate_errors)
        copies.add_metric(["pairs"], stats.pairs)
        copies.add_metric(["skipped_down"], stats.skipped_down)
    yield shadow_state
    yield copies


def _connections(stats: ConnectionStats) -> Iterator[Metric]:
    """The front door: open client connections, and those refused or cut before reaching a slot."""
    yield _gauge("slipway_client_connections", "Client connections open now.", stats.open)
    refused = CounterMetricFamily(
        "slipway_client_connections_refused",
        "Client connections the gateway refused or cut itself (never counted against a slot): "
        "over gateway.max_connections, or too slow to send headers or body.",
        labels=["reason"],
    )
    refused.add_metric(["over_limit"], stats.refused_over_limit)
    refused.add_metric(["header_timeout"], stats.header_timeouts)
    refused.add_metric(["body_timeout"], stats.body_timeouts)
    yield refused


def _replicas(status: Status) -> Iterator[Metric]:
    """This replica's part among those sharing the store: does it lead, how it follows route changes."""
    feed = status.route_feed
    yield _gauge(
        "slipway_route_listener_up",
        "1 while this replica listens for route change notifications (PostgreSQL).",
        1.0 if feed.get("listening") else 0.0,
    )
    seen = CounterMetricFamily(
        "slipway_route_changes_seen",
        "Route versions committed elsewhere that this replica heard of, by how.",
        labels=["via"],
    )
    seen.add_metric(["notification"], float(feed.get("notified", 0)))
    seen.add_metric(["poll"], float(feed.get("polled", 0)))
    yield seen
    yield CounterMetricFamily(
        "slipway_route_feed_errors",
        "Failed route version reads and lost notification connections.",
        value=float(feed.get("errors", 0)),
    )
    replicas = status.replicas
    if replicas is None:
        return
    yield _gauge(
        "slipway_leader",
        "1 while this replica leads (runs the canary and shadow loops), else 0.",
        1.0 if replicas.leading_epoch is not None else 0.0,
    )
    yield _gauge("slipway_leader_epoch", "The store's leadership epoch.", replicas.leader.epoch)
    yield _gauge("slipway_replicas_live", "Replicas with a recent heartbeat.", len(replicas.live))
