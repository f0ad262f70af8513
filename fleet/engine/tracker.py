"""The execution tracker: node executions, event flow and performance metrics of a run.

It serializes to JSON and back without loss (``Tracker.from_dict(t.to_dict()) == t``);
metrics are derived, so they are recomputed rather than stored.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from fleet.clock import as_utc

FORMAT_VERSION = 1


def _dt(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _shallow(obj: Any) -> dict[str, Any]:
    names = _FIELD_NAMES.get(type(obj))
    if names is None:  # dataclasses.fields() per call cost a run more than its JSON
        names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in fields(obj))
    return {name: getattr(obj, name) for name in names}


def _parse_dt(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value else None


@dataclass
class NodeExecution:
    """One execution of one node."""

    exec_key: str
    node_id: str
    block_id: str
    status: str  # completed | failed | waiting | cancelled
    started_at: datetime | None
    ended_at: datetime | None
    params: dict[str, Any] = field(default_factory=dict)
    result: list[list[Any]] | None = None  # [[pin, value], ...]
    error: str | None = None
    parents: list[str] = field(default_factory=list)  # exec keys whose outputs fed it
    replayed: bool = False
    attempt: int = 1  # the node's attempt under its retry policy

    @property
    def duration_s(self) -> float:
        """Seconds between start and end (0 when unknown)."""
        if self.started_at is None or self.ended_at is None:
            return 0.0
        return max(0.0, (self.ended_at - self.started_at).total_seconds())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (shares its values with the execution: no deep copy per run)."""
        d = _shallow(self)
        d["started_at"], d["ended_at"] = _dt(self.started_at), _dt(self.ended_at)
        d["duration_s"] = self.duration_s
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NodeExecution:
        """Inverse of ``to_dict``."""
        values = {k: v for k, v in d.items() if k != "duration_s"}
        values["started_at"] = _parse_dt(d.get("started_at"))
        values["ended_at"] = _parse_dt(d.get("ended_at"))
        return cls(**values)


@dataclass
class FlowEvent:
    """A value routed from a source node pin to a target node pin."""

    at: datetime
    source_node: str
    source_pin: str
    target_node: str | None
    target_pin: str | None
    data: Any = None
    size: int = 0
    truncated: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (shares its values with the event)."""
        d = _shallow(self)
        d["at"] = _dt(self.at)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FlowEvent:
        """Inverse of ``to_dict``."""
        at = _parse_dt(d["at"])
        assert at is not None
        return cls(**{**d, "at": at})


@dataclass
class Metrics:
    """Count, success rate and duration statistics of a set of executions."""

    count: int
    success_count: int
    error_count: int
    success_rate: float
    min_s: float
    avg_s: float
    max_s: float
    p95_s: float
    total_s: float

    @classmethod
    def of(cls, executions: list[NodeExecution]) -> Metrics:
        """Metrics over ``executions`` (only finished ones count toward durations)."""
        done = [e for e in executions if e.status in ("completed", "failed")]
        durations = sorted(e.duration_s for e in done)
        ok = sum(1 for e in done if e.status == "completed")
        errors = sum(1 for e in done if e.status == "failed")
        n = len(durations)
        return cls(
            count=n, success_count=ok, error_count=errors,
            success_rate=(ok / n) if n else 0.0,
            min_s=durations[0] if n else 0.0,
            avg_s=(sum(durations) / n) if n else 0.0,
            max_s=durations[-1] if n else 0.0,
            p95_s=percentile(durations, 0.95),
            total_s=sum(durations),
        )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass
class RunMetrics:
    """Whole-run figures."""

    nodes: Metrics
    wall_time_s: float
    slowest_node: str | None
    slowest_s: float
    critical_path: list[str]
    critical_path_s: float


@dataclass
class Tracker:
    """Everything observed about one run's execution."""

    run_id: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    executions: list[NodeExecution] = field(default_factory=list)
    events: list[FlowEvent] = field(default_factory=list)

    def block_metrics(self) -> dict[str, Metrics]:
        """Metrics per block id."""
        by_block: dict[str, list[NodeExecution]] = {}
        for e in self.executions:
            by_block.setdefault(e.block_id, []).append(e)
        return {b: Metrics.of(es) for b, es in sorted(by_block.items())}

    def run_metrics(self) -> RunMetrics:
        """Metrics over the whole run, with the slowest node and the critical path."""
        wall = 0.0
        if self.started_at is not None and self.ended_at is not None:
            wall = max(0.0, (self.ended_at - self.started_at).total_seconds())
        slowest = max(self.executions, key=lambda e: e.duration_s, default=None)
        path, path_s = self.critical_path()
        return RunMetrics(
            nodes=Metrics.of(self.executions), wall_time_s=wall,
            slowest_node=slowest.node_id if slowest else None,
            slowest_s=slowest.duration_s if slowest else 0.0,
            critical_path=path, critical_path_s=path_s,
        )

    def critical_path(self) -> tuple[list[str], float]:
        """The chain of executions (via their parents) with the largest total duration."""
        by_key = {e.exec_key: e for e in self.executions}
        best: dict[str, tuple[float, str | None]] = {}

        def total(key: str) -> float:
            # Executions are recorded after their parents, so one pass in order suffices.
            return best[key][0] if key in best else 0.0

        for e in self.executions:
            parent = max((p for p in e.parents if p in by_key), key=total, default=None)
            best[e.exec_key] = (total(parent) if parent else 0.0) + e.duration_s, parent
        if not best:
            return [], 0.0
        end = max(best, key=lambda k: best[k][0])
        length = best[end][0]
        chain: list[str] = []
        cursor: str | None = end
        while cursor is not None:
            chain.append(by_key[cursor].node_id)
            cursor = best[cursor][1]
        return list(reversed(chain)), length

    def to_dict(self, *, metrics: bool = True) -> dict[str, Any]:
        """JSON-ready form, with the derived metrics included for readers unless
        ``metrics`` is False (the stored form: they are recomputed when read, see
        :func:`with_metrics`)."""
        d = {
            "format": FORMAT_VERSION,
            "run_id": self.run_id,
            "started_at": _dt(self.started_at),
            "ended_at": _dt(self.ended_at),
            "executions": [e.to_dict() for e in self.executions],
            "events": [e.to_dict() for e in self.events],
        }
        if metrics:
            d["metrics"] = self.metrics_dict()
        return d

    def metrics_dict(self) -> dict[str, Any]:
        """The derived metrics as JSON-ready data: the whole run's and per block."""
        return {"run": asdict(self.run_metrics()),
                "blocks": {b: asdict(m) for b, m in self.block_metrics().items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tracker:
        """Inverse of ``to_dict`` (metrics are recomputed, not read)."""
        return cls(
            run_id=d["run_id"],
            started_at=_parse_dt(d.get("started_at")),
            ended_at=_parse_dt(d.get("ended_at")),
            executions=[NodeExecution.from_dict(e) for e in d.get("executions", [])],
            events=[FlowEvent.from_dict(e) for e in d.get("events", [])],
        )

    def to_json(self) -> str:
        """The tracker as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Tracker:
        """Inverse of ``to_json``."""
        return cls.from_dict(json.loads(text))


def with_metrics(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored tracker (``to_dict(metrics=False)``) with its derived metrics added; one
    that has them (an older row) or that does not parse is returned as it is."""
    if "metrics" in stored:
        return stored
    try:
        return {**stored, "metrics": Tracker.from_dict(stored).metrics_dict()}
    except (KeyError, TypeError, ValueError):
        return stored
