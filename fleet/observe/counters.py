"""The counters and histograms of ``/metrics``, kept in the store.

Several processes write what the counters count (workers record transitions, the
scheduler records fires, alert deliveries are made wherever a sweep runs), so no
process's memory holds the totals. Instead each refresh counts the rows that appeared
since the last one, in ``(counted_until, now - settle]``, through an index on each
source's timestamp, and adds them to ``metric_counters``; the watermark row is locked
while it does, so any number of web processes count every window exactly once and
report the same monotonic values. Retention pruning old rows takes nothing away.

The counters start at zero on the first refresh (history before it is not counted);
``settle`` leaves time for rows committed late (a row whose timestamp is older than the
watermark when it commits, e.g. from a host whose clock lags by more, is not counted).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.store import metrics as store
from fleet.store.db import begin_write

SOURCE = "store"
DURATION_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                                       60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
DELIVERY_RESULTS = {"sent": "sent", "pending": "failed", "gave_up": "gave_up"}


@dataclass(frozen=True)
class Sample:
    """One counter value."""

    name: str
    labels: dict[str, str]
    value: float


def labels_key(**labels: str) -> str:
    """The canonical stored form of a label set."""
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def le(bound: float) -> str:
    """A bucket's ``le`` label as Prometheus writes it."""
    return repr(float(bound))


def _histogram(name: str, labels: dict[str, str], cumulative: Sequence[int], count: int,
               total: float) -> list[tuple[str, str, float]]:
    rows = [(f"{name}_bucket", labels_key(**labels, le=le(b)), float(c))
            for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
    rows.append((f"{name}_bucket", labels_key(**labels, le="+Inf"), float(count)))
    rows.append((f"{name}_count", labels_key(**labels), float(count)))
    rows.append((f"{name}_sum", labels_key(**labels), total))
    return rows


def _bucketed(values: Iterable[float]) -> tuple[list[int], int, float]:
    vals = [max(0.0, v) for v in values]
    return ([sum(1 for v in vals if v <= b) for b in DURATION_BUCKETS], len(vals), sum(vals))


def window_deltas(session: Session, since: datetime, until: datetime) -> list[tuple[str, str,
                                                                                    float]]:
    """Every counter increment for the rows that appeared in ``(since, until]``."""
    deltas: list[tuple[str, str, float]] = []
    for state, n in store.transitions_into(session, since, until).items():
        deltas.append(("fleet_runs_total", labels_key(state=state), float(n)))
    deltas.append(("fleet_lease_expired_total", labels_key(),
                   float(store.lease_expiries(session, since, until))))
    for outcome, n in store.fire_outcomes(session, since, until).items():
        deltas.append(("fleet_schedule_fires_total", labels_key(outcome=outcome), float(n)))
    for state, n in store.delivery_outcomes(session, since, until).items():
        result = DELIVERY_RESULTS.get(state, state)
        deltas.append(("fleet_alert_deliveries_total", labels_key(result=result), float(n)))
    cumulative, count, total = store.run_durations(session, since, until, DURATION_BUCKETS)
    if count:
        deltas += _histogram("fleet_run_duration_seconds", {}, cumulative, count, total)
    for block, (cumulative, count, total) in store.node_durations(
            session, since, until, DURATION_BUCKETS).items():
        if count:
            deltas += _histogram("fleet_node_duration_seconds", {"block": block}, cumulative,
                                 count, total)
    lags = [(started - scheduled).total_seconds()
            for scheduled, started in store.schedule_starts(session, since, until)]
    if lags:
        deltas += _histogram("fleet_schedule_to_start_seconds", {}, *_bucketed(lags))
    return [d for d in deltas if d[2]]


def refresh(session: Session, now: datetime, settle_s: float) -> int:
    """Count what appeared since the last refresh into the stored counters; commits.

    Returns the number of counters changed (0 when another process just counted, or on
    the very first refresh, which only sets the starting point).
    """
    until = now - timedelta(seconds=settle_s)
    begin_write(session, "metrics refresh")
    since = store.watermark(session, SOURCE)
    if since is None:
        store.start_watermark(session, SOURCE, until)
        session.commit()
        return 0
    if until <= since:
        session.rollback()
        return 0
    deltas = window_deltas(session, since, until)
    store.add(session, deltas)
    store.set_watermark(session, SOURCE, until)
    session.commit()
    return len(deltas)


def read(session: Session) -> list[Sample]:
    """Every stored counter."""
    rows = store.counters(session)
    session.commit()
    return [Sample(name, json.loads(labels), value) for name, labels, value in rows]
