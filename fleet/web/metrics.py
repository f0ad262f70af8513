"""``/metrics`` in the Prometheus text format (durations in seconds).

Values come from the shared snapshot: counters and histograms are the ones kept in the
store (:mod:`fleet.observe.counters`), gauges are the overview's, so every web process
reports the same numbers and none comes from one process's memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from fleet.observe.counters import DURATION_BUCKETS, Sample, le
from fleet.scheduling.outcomes import OUTCOMES
from fleet.store.models import ACTIVE_STATES, RunState
from fleet.web.observed import Observed

HISTOGRAMS = {
    "fleet_run_duration_seconds": ("Wall time of finished runs.", ()),
    "fleet_node_duration_seconds": ("Wall time of node executions, by block.", ("block",)),
    "fleet_schedule_to_start_seconds": ("From a scheduled instant to its run's start.", ()),
}
DELIVERY_RESULTS = ("sent", "failed", "gave_up")


def _counter(samples: list[Sample], name: str, doc: str, label: str | None,
             values: tuple[str, ...] = ()) -> Metric:
    family = CounterMetricFamily(name, doc, labels=[label] if label else None)
    found: dict[str, float] = dict.fromkeys(values, 0.0)
    for s in samples:
        if s.name == name:
            key = s.labels.get(label, "") if label else ""
            found[key] = found.get(key, 0.0) + s.value
    if label is None:
        family.add_metric([], found.get("", 0.0))
    else:
        for key in sorted(found):
            family.add_metric([key], found[key])
    return family


def _histograms(samples: list[Sample]) -> Iterator[Metric]:
    bounds = [le(b) for b in DURATION_BUCKETS] + ["+Inf"]
    for name, (doc, labels) in HISTOGRAMS.items():
        # A bucket never incremented has no stored row: it is zero.
        buckets: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        sums: dict[tuple[str, ...], float] = {}
        for s in samples:
            key = tuple(s.labels.get(lab, "") for lab in labels)
            if s.name == f"{name}_bucket":
                buckets[key][s.labels["le"]] = s.value
            elif s.name == f"{name}_sum":
                sums[key] = s.value
        if not labels and not buckets:  # nothing counted yet: an all-zero histogram
            buckets[()] = {}
        family = HistogramMetricFamily(name, doc, labels=list(labels))
        for key, found in sorted(buckets.items()):
            family.add_metric(list(key), [(b, found.get(b, 0.0)) for b in bounds],
                              sum_value=sums.get(key, 0.0))
        yield family


class StoreCollector:
    """A prometheus-client collector over the latest snapshot."""

    def __init__(self, get: Any) -> None:
        self._get = get

    def collect(self) -> Iterator[Metric]:
        """Every fleet metric."""
        o: Observed = self._get()
        s, ov, q = o.counters, o.overview, o.queue_name
        yield _counter(s, "fleet_runs_total", "Runs that entered each state.", "state",
                       tuple(st.value for st in RunState))
        yield _counter(s, "fleet_lease_expired_total",
                       "Runs taken back from a worker whose lease expired.", None)
        yield _counter(s, "fleet_schedule_fires_total",
                       "Scheduled instants by outcome (fired, missed, skipped, failed).",
                       "outcome", OUTCOMES)
        yield _counter(s, "fleet_alert_deliveries_total",
                       "Alert delivery attempts by result.", "result", DELIVERY_RESULTS)
        yield from _histograms(s)
        depth = GaugeMetricFamily("fleet_queue_depth", "Runs queued, by queue.",
                                  labels=["queue"])
        depth.add_metric([q], ov.queue_depth)
        yield depth
        lag = GaugeMetricFamily("fleet_queue_lag_seconds",
                                "Age of the oldest queued run, by queue.", labels=["queue"])
        lag.add_metric([q], ov.queue_lag_s or 0.0)
        yield lag
        runtimes = GaugeMetricFamily("fleet_runtimes", "Worker processes by status.",
                                     labels=["status"])
        for status in sorted({"online", "offline", *ov.runtimes}):
            runtimes.add_metric([status], ov.runtimes.get(status, 0))
        yield runtimes
        active = GaugeMetricFamily("fleet_runs_active", "Runs in each active state now.",
                                   labels=["state"])
        for st in sorted(x.value for x in ACTIVE_STATES):
            active.add_metric([st], ov.active.get(st, 0))
        yield active
        late = GaugeMetricFamily("fleet_late_runs", "Runs queued or running for too long "
                                                    "(counted up to 10 000).", labels=["state"])
        late.add_metric(["queued"], ov.late_queued)
        late.add_metric(["running"], ov.late_running)
        yield late
        yield GaugeMetricFamily("fleet_alerts_firing", "Alert incidents firing.",
                                value=len(ov.firing))
        yield from _jobs(o)


def _jobs(o: Observed) -> Iterator[Metric]:
    success = GaugeMetricFamily("fleet_system_job_last_success_timestamp_seconds",
                                "When each system job last succeeded (Unix time).",
                                labels=["job"])
    duration = GaugeMetricFamily("fleet_system_job_last_duration_seconds",
                                 "How long each system job's last run took.", labels=["job"])
    runs = CounterMetricFamily("fleet_system_job_runs_total", "Runs of each system job.",
                               labels=["job"])
    errors = CounterMetricFamily("fleet_system_job_errors_total",
                                 "Failed runs of each system job.", labels=["job"])
    for j in o.overview.jobs:
        if j.last_success_at is not None:
            success.add_metric([j.name], j.last_success_at.timestamp())
        if j.last_duration_s is not None:
            duration.add_metric([j.name], j.last_duration_s)
        runs.add_metric([j.name], j.runs_total)
        errors.add_metric([j.name], j.errors_total)
    yield from (success, duration, runs, errors)


def render(get: Any) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(get))
    return generate_latest(registry), CONTENT_TYPE_LATEST
