"""Durable execution of one claimed run: checkpoints, replay, stats and the final state.

The run lifecycle drives the pure dataflow engine (:mod:`fleet.engine.dataflow`)
here, with a hook that checkpoints each finished node under the run's lease.

``execute`` runs a run already claimed under a lease. Every node execution is
persisted as a NodeRun when it ends, in a transaction fenced by the run's
``lease_id`` (a worker that lost its lease writes nothing). Executing the run
again replays the finished NodeRuns and runs only the rest. The final state
is written with a lease-fenced transition. When the runtime stops the
execution for ``lease_lost`` or ``shutdown`` nothing is written: the runtime
releases (or has already lost) the lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.clock import Clock, utcnow
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.dataflow import Checkpoint, Dataflow, DataflowResult, Finished, cap
from fleet.engine.definition import GraphDef
from fleet.engine.scores import Score, judge
from fleet.engine.suspension import RESUMED
from fleet.engine.tracker import FlowEvent, Tracker
from fleet.errors import (
    RUN_INVALID_GRAPH,
    RUN_NODE_FAILED,
    RUN_TIMEOUT,
    RUN_UNUSABLE_RESOURCE,
    FleetError,
)
from fleet.runs import block_services, checks, fsm
from fleet.runs.checks import GRAPH_VERSIONS, GraphVersions
from fleet.runs.leases import Lease
from fleet.runs.writer import Pending, RunWriter, Written, event_row
from fleet.settings import Settings
from fleet.store import hotpath
from fleet.store.models import RunState
from fleet.store.types import new_id

log = logging.getLogger(__name__)

# Checkpoints held back by a run (node runs, their events), carried by its finish.
Held = tuple[list[dict[str, Any]], list[dict[str, Any]]]

QUIET_STOPS = frozenset({"lease_lost", "shutdown"})


class StopSignal:
    """A thread-safe request to stop one execution, with its reason.

    The runtime requests ``lease_lost`` (heartbeat found the lease gone),
    ``shutdown`` (graceful stop) or ``cancelled`` (cancel requested); the first
    reason wins.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: str | None = None
        self._requested = threading.Event()

    def request(self, reason: str) -> None:
        """Ask the execution to stop for ``reason`` (later requests are ignored)."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
        self._requested.set()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until a stop is requested (True) or ``timeout_s`` passes (False)."""
        return self._requested.wait(timeout_s)

    def reason(self) -> str | None:
        """The stop reason, or None while the execution may go on."""
        with self._lock:
            return self._reason


@dataclass
class Outcome:
    """What one execution did."""

    run_id: str
    state: str | None  # the state written, or None when nothing was written
    reason: str | None = None  # why nothing was written: lease_lost, shutdown, not_held
    executed: int = 0
    replayed: int = 0
    outputs: dict[str, Any] | None = None
    error: str | None = None
    tracker: Tracker | None = field(default=None, repr=False)
    elapsed_s: float = 0.0  # running time of this segment (a release adds it to the run)


@dataclass
class _Loaded:
    run_id: str
    user_id: str
    graph_key: tuple[str, str, int]
    inputs: dict[str, Any]
    credentials: dict[str, Any]
    definition: dict[str, Any] | None
    timeout_s: float
    cancel_requested: bool
    wall_time_s: float
    cpu_time_s: float
    run_time_s: float  # running time of the segments before this one (the timeout's clock)
    checkpoints: dict[str, Checkpoint]
    resumes: dict[str, dict[str, Any]] = field(default_factory=dict)  # decided sub-graphs
    tried: dict[str, int] = field(default_factory=dict)  # exec key -> attempts that failed


def _checkpoints(open_session: Callable[[], Session], run_id: str, created_at: datetime
                 ) -> tuple[dict[str, Checkpoint], dict[str, dict[str, Any]], dict[str, int]]:
    """The run's completed executions (to replay), its decided sub-graph nodes, and the
    attempts its failed executions made (exec key -> the highest attempt that failed)."""
    with open_session() as s:
        rows = hotpath.finished_node_runs(s, run_id)
        s.commit()
    done: dict[str, Checkpoint] = {}
    resumes: dict[str, dict[str, Any]] = {}
    tried: dict[str, int] = {}
    for key, outputs, started, ended, state, resume, attempt in rows:
        if state == "completed":
            done[key] = Checkpoint([(p, v) for p, v in (outputs or [])], started or created_at,
                                   ended or created_at)
        elif state == RESUMED and resume is not None:
            resumes[key] = resume
        elif state == "failed":  # a retried attempt is stored as ``key@attempt``
            plain = key.split("@", 1)[0]
            tried[plain] = max(tried.get(plain, 0), attempt or 1)
    return done, resumes, tried


def _load(open_session: Callable[[], Session], lease: Lease,
          settings: Settings) -> _Loaded | None:
    """What executing the run needs: from the claim itself, else read again."""
    row = lease.claimed
    if row is None:
        with open_session() as s:
            found = s.execute(hotpath.claimed_row(lease.run_id, lease.lease_id)).first()
            s.commit()
        if found is None:
            return None
        row = hotpath.ClaimedRow(*found)
    # Only a run that ran before can have checkpoints to replay: no query otherwise.
    checkpoints, resumes, tried = (_checkpoints(open_session, row.id, row.created_at)
                                   if row.ran_before else ({}, {}, {}))
    timeout = row.timeout_s or row.graph_timeout_s or settings.default_graph_timeout_s
    return _Loaded(row.id, row.user_id, (row.user_id, row.graph_id, row.graph_version),
                   dict(row.inputs or {}), dict(row.credentials or {}),
                   dict(row.definition) if row.definition is not None else None,
                   float(timeout), row.cancel_requested, row.wall_time_s or 0.0,
                   row.cpu_time_s or 0.0, row.run_time_s or 0.0, checkpoints, resumes, tried)


class _Persister:
    """Writes each finished execution (and its routed outputs) under the lease fence.

    Checkpoints are held back while the flow runs blocks on its own thread (inline
    blocks, microseconds each) and sent to the writer together: when the first one
    held is ``window_s`` old, before the flow waits on a block running elsewhere or
    a retry's backoff, or with the run's finish (:meth:`take`), so that a run of
    inline blocks is one write. The flow goes on meanwhile: the nodes that depend on
    a checkpoint may start, but the run is not finished (nor suspended) before every
    checkpoint is committed, with its finish or before it, and the writer commits a
    run's writes in order, so a node is never recorded done before the node it
    depended on. A crash loses what was not committed yet (at most ``window_s`` of
    inline work, as the writer's own group commit): those nodes are redone, as
    before. What a committed write says (the lease is gone, a cancel was requested)
    stops the flow at the next node.
    """

    def __init__(self, writer: RunWriter, lease: Lease, settings: Settings,
                 stop: StopSignal | None) -> None:
        self.writer = writer
        self.lease = lease
        self.settings = settings
        self.stop = stop
        self.pending: deque[Pending] = deque()
        self.held_rows: list[dict[str, Any]] = []
        self.held_events: list[dict[str, Any]] = []
        self.held_since = 0.0
        self.lost = False
        self.cancel_requested = False

    def __call__(self, fin: Finished, events: list[FlowEvent]) -> str | None:
        if fin.replayed:
            return self.stop_reason()
        ex = fin.execution
        state = fin.status if fin.status != "suspended" else (
            fin.suspend.state if fin.suspend else "waiting")
        node_run = {
            "id": new_id(), "run_id": self.lease.run_id, "node_id": ex.node_id,
            "block_id": ex.block_id, "exec_key": fin.stored_key, "state": state,
            "inputs": cap(ex.inputs, self.settings.max_input_bytes)[0],
            "outputs": [[p, v] for p, v in fin.outputs] if fin.status == "completed" else None,
            "error": fin.error, "attempt": self.lease.attempt, "started_at": fin.started_at,
            "completed_at": fin.ended_at,
            "wall_time_s": (fin.ended_at - fin.started_at).total_seconds(),
            "resume": fin.suspend.resume if fin.suspend else None, "cost": fin.cost,
            "node_attempt": fin.attempt,
        }
        if not self.held_rows:
            self.held_since = time.monotonic()
        self.held_rows.append(node_run)
        self.held_events.extend(
            event_row(run_id=self.lease.run_id, at=e.at, kind="output",
                      source_node=e.source_node, source_pin=e.source_pin,
                      sink_node=e.target_node, sink_pin=e.target_pin, data=e.data,
                      detail="truncated" if e.truncated else None) for e in events)
        if fin.retry_note is not None:  # the run's events record each retry
            self.held_events.append(event_row(run_id=self.lease.run_id, at=fin.ended_at,
                                              kind="retry", source_node=ex.node_id,
                                              detail=fin.retry_note))
        if time.monotonic() - self.held_since >= self.writer.window_s:
            self.send()
        return self._settled() or self.stop_reason()

    def send(self) -> None:
        """Queue the checkpoints held back (without waiting for them)."""
        if self.held_rows:
            rows, events = self.take()
            # A database outage costs time, not the run: the writer retries within the budget.
            self.pending.append(self.writer.checkpoints_later(
                self.lease.run_id, self.lease.lease_id, rows, events))

    def take(self) -> Held:
        """The checkpoints held back (node runs, events), to go with the run's finish."""
        taken = self.held_rows, self.held_events
        self.held_rows, self.held_events = [], []
        return taken

    def _settled(self) -> str | None:
        """What the writes committed so far say (raises a failed write's error)."""
        while self.pending and self.pending[0].done():
            self._note(self.pending.popleft().wait())
        return self._reason()

    def flush(self) -> str | None:
        """Wait for every checkpoint sent; ``lease_lost`` / ``cancelled`` or None."""
        while self.pending:
            self._note(self.pending.popleft().wait())
        return self._reason()

    def _note(self, written: Written) -> None:
        self.lost = self.lost or not written.held
        self.cancel_requested = self.cancel_requested or written.cancel_requested

    def _reason(self) -> str | None:
        return "lease_lost" if self.lost else "cancelled" if self.cancel_requested else None

    def stop_reason(self) -> str | None:
        return self.stop.reason() if self.stop is not None else None


def execute(open_session: Callable[[], Session], lease: Lease, *, registry: BlockRegistry,
            settings: Settings, clock: Clock = utcnow, stop: StopSignal | None = None,
            writer: RunWriter | None = None, versions: GraphVersions | None = None) -> Outcome:
    """Execute the run claimed under ``lease`` to its next resting state.

    ``writer`` commits the checkpoints and the final state (a process shares one,
    which groups concurrent writes); ``versions`` caches parsed, validated graph
    versions. A lease fresh from its claim carries the run as the claim read it
    and is trusted (no second read); a lease without it is checked first. Returns
    an Outcome; ``Outcome.state`` is None when nothing was written (the lease is
    gone, or the runtime is shutting down).
    """
    writer = writer or RunWriter(open_session, window_s=0, budget_s=settings.db_outage_budget_s)
    versions = versions or GRAPH_VERSIONS
    loaded = _load(open_session, lease, settings)
    if loaded is None:
        log.info("run %s: lease %s no longer held; not executing", lease.run_id, lease.lease_id)
        return Outcome(lease.run_id, None, reason="lease_lost")
    t0, cpu0 = time.perf_counter(), time.thread_time()
    start = clock()
    if loaded.cancel_requested or (stop is not None and stop.reason() == "cancelled"):
        return _finish(writer, lease, loaded, RunState.CANCELLED, clock(),
                       detail="cancel requested before execution")
    if stop is not None and stop.reason() in QUIET_STOPS:
        return Outcome(lease.run_id, None, reason=stop.reason())
    if loaded.definition is None:
        return _finish(writer, lease, loaded, RunState.FAILED, clock(),
                       error_code=RUN_INVALID_GRAPH,
                       error_detail="the run's graph version no longer exists")
    graph_problems, parsed = versions.get(loaded.graph_key, loaded.definition, registry)
    problems = graph_problems or [f"inputs: {p}" for p in checks.input_problems(
        loaded.definition, loaded.inputs, registry, settings.max_input_bytes, graph=parsed)]
    if problems:
        return _finish(writer, lease, loaded, RunState.FAILED, clock(),
                       error_code=RUN_INVALID_GRAPH,
                       error_detail="the run's graph no longer validates: "
                                    + "; ".join(problems))
    # Credentials, artifact inputs and secret masking for the blocks (issue 17).
    try:
        prepared = block_services.prepare(open_session, lease.run_id, loaded.definition,
                                          loaded.inputs, settings=settings, registry=registry,
                                          clock=clock, graph=parsed,
                                          owner=(loaded.user_id, loaded.credentials))
    except FleetError as exc:
        return _finish(writer, lease, loaded, RunState.FAILED, clock(),
                       error_code=RUN_UNUSABLE_RESOURCE, error_detail=exc.message)
    graph: GraphDef = prepared.graph

    # The timeout counts running time across segments (claims), never a waiting state.
    deadline = start + timedelta(seconds=max(0.0, loaded.timeout_s - loaded.run_time_s))
    persister = _Persister(writer, lease, settings, stop)
    flow = Dataflow(graph, prepared.inputs, registry,
                    run_id=lease.run_id, concurrency=settings.node_concurrency, clock=clock,
                    deadline=deadline, checkpoints=loaded.checkpoints, resumes=loaded.resumes,
                    tried=loaded.tried,
                    on_finished=persister,
                    should_stop=persister.stop_reason, before_wait=persister.send,
                    event_cap_bytes=settings.event_data_cap_bytes,
                    services=prepared.services)
    try:
        result = flow.run()
        if result.status == "stopped" and result.reason != "cancelled":
            persister.send()  # nothing more is written, but what finished is kept
        written = persister.flush()
    finally:
        prepared.close()
    end = clock()
    if written == "lease_lost":
        log.info("run %s: lease %s lost while checkpointing; nothing more written",
                 lease.run_id, lease.lease_id)
        return Outcome(lease.run_id, None, reason="lease_lost", executed=result.executed,
                       replayed=result.replayed, elapsed_s=time.perf_counter() - t0)
    tracker = Tracker(lease.run_id, started_at=start, ended_at=end,
                      executions=[f.record() for f in result.finished], events=result.events)
    elapsed = time.perf_counter() - t0
    stats = {
        "wall_time_s": loaded.wall_time_s + elapsed,
        "run_time_s": loaded.run_time_s + elapsed,
        "cpu_time_s": loaded.cpu_time_s + (time.thread_time() - cpu0)
        + sum(f.cpu_s for f in result.finished),
        "node_count": len(result.finished),
        "node_error_count": sum(1 for f in result.finished if f.status == "failed"),
        # Stored without its derived metrics (recomputed when read): a run's JSON stays
        # small, under the size where PostgreSQL compresses it.
        "tracker": tracker.to_dict(metrics=False),
    }
    common = {"executed": result.executed, "replayed": result.replayed, "tracker": tracker,
              "elapsed_s": elapsed}
    score = judge(graph, result.outputs) if result.status == "completed" else Score()
    # The checkpoints still held back go with the finish: one write.
    return _conclude(writer, lease, loaded, result, end, stats, common, score,
                     persister.take())


def _conclude(writer: RunWriter, lease: Lease, loaded: _Loaded,
              result: DataflowResult, end: datetime, stats: dict[str, Any],
              common: dict[str, Any], score: Score,
              carried: Held) -> Outcome:
    if result.status == "stopped" and result.reason != "cancelled":
        log.info("run %s: execution stopped (%s); nothing written", lease.run_id, result.reason)
        return Outcome(lease.run_id, None, reason=result.reason, **common)
    common = {**common, "carried": carried}
    if result.status == "stopped":
        return _finish(writer, lease, loaded, RunState.CANCELLED, end,
                       detail="cancelled between nodes", stats=stats, **common)
    if result.status == "timeout":
        return _finish(writer, lease, loaded, RunState.TIMEOUT, end,
                       error_code=RUN_TIMEOUT,
                       error_detail=f"the run exceeded its timeout of {loaded.timeout_s:g} s",
                       stats=stats, **common)
    if result.status == "failed":
        return _finish(writer, lease, loaded, RunState.FAILED, end,
                       error_code=RUN_NODE_FAILED, error_detail=result.error, stats=stats,
                       **common)
    if result.status == "suspended" and result.suspended is not None:
        susp = result.suspended.suspend
        assert susp is not None
        reason = f"node '{result.suspended.execution.node_id}': {susp.reason}"
        return _finish(writer, lease, loaded, RunState(susp.state), end,
                       detail=reason, stats=stats, waiting_reason=reason, **common)
    if score.value is not None:  # the graph's correctness score (fleet.engine.scores)
        stats = {**stats, "correctness_score": score.value}
    return _finish(writer, lease, loaded, RunState.COMPLETED, end, note=score.problem,
                   outputs=result.outputs, stats=stats, **common)


def _finish(writer: RunWriter, lease: Lease, loaded: _Loaded,
            to: RunState, now: datetime, *, detail: str | None = None, note: str | None = None,
            stats: dict[str, Any] | None = None, executed: int = 0, replayed: int = 0,
            tracker: Tracker | None = None, elapsed_s: float = 0.0,
            carried: Held = ([], []),
            **fields: Any) -> Outcome:
    assert fsm.is_legal(RunState.RUNNING, to), to
    values = {**(stats or {}), **fields, **fsm.entry_values(to, now)}
    node_runs, events = carried[0], list(carried[1])
    if note is not None:
        events.append(event_row(run_id=lease.run_id, at=now, kind="note", detail=note))
    events.append(event_row(run_id=lease.run_id, at=now, kind="transition",
                            from_state=RunState.RUNNING.value, to_state=to.value, detail=detail))
    # A database outage costs time, not the run: the writer retries within the budget.
    if not writer.finish(lease.run_id, lease.lease_id, values, events, node_runs).held:
        log.warning("run %s: lease lost before writing %s; nothing written", lease.run_id,
                    to.value)
        return Outcome(lease.run_id, None, reason="lease_lost", executed=executed,
                       replayed=replayed, tracker=tracker, elapsed_s=elapsed_s)
    return Outcome(lease.run_id, to.value, executed=executed, replayed=replayed,
                   outputs=fields.get("outputs"), error=fields.get("error_detail"),
                   tracker=tracker, elapsed_s=elapsed_s)
