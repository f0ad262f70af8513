"""Reading a run as a user sees it: its nodes (done, in progress, pending), events and links.

The executor writes a node's row when the node finishes, so a node in
progress has no row yet: :func:`progress` infers it from the graph and the
routed outputs (a node whose inputs have arrived, or that has no input links,
and has not finished, is in progress while the run is running).

Another user's run is answered exactly as a missing one (``user_id=None``: an
operator, anyone's run). Why a run is not moving: :func:`fleet.runs.diagnose.why`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.runs.queries import visible
from fleet.store import graphs as graph_store
from fleet.store import lookup
from fleet.store import node_runs as node_store
from fleet.store import runs as run_store
from fleet.store.models import NodeRun, Run, RunEvent, RunState

WAITING_STATES = frozenset({RunState.WAITING_APPROVAL.value, RunState.WAITING_TOOL.value})
TERMINAL = frozenset({RunState.COMPLETED.value, RunState.FAILED.value,
                      RunState.CANCELLED.value, RunState.TIMEOUT.value})


@dataclass
class NodeView:
    """One node of the run's graph and how far it got."""

    node_id: str
    block_id: str
    state: str  # completed | failed | waiting_* | running | pending | not run
    executions: int = 0  # finished executions of the node (fan-out: one per value)
    failures: int = 0  # of which failed (a retried node shows its earlier failures here)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    wall_time_s: float | None = None  # summed over its finished executions
    cost: float = 0.0  # summed over its executions (fleet.engine.costs)
    since: datetime | None = None  # in progress: when its inputs arrived (or the run started)
    error: str | None = None
    outputs: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"node_id": self.node_id, "block_id": self.block_id, "state": self.state,
                "executions": self.executions, "failures": self.failures,
                "started_at": self.started_at, "completed_at": self.completed_at,
                "wall_time_s": self.wall_time_s, "cost": self.cost, "since": self.since,
                "error": self.error,
                "outputs": self.outputs}


@dataclass
class RunView:
    """A run with its nodes, node executions, events and the runs linked to it."""

    run: Run
    nodes: list[NodeView]
    node_runs: list[NodeRun]
    events: list[RunEvent] = field(default_factory=list)
    retries: list[str] = field(default_factory=list)  # runs created as retries of this one

    @property
    def current(self) -> list[str]:
        """The nodes in progress (or parked in a waiting state)."""
        return [n.node_id for n in self.nodes
                if n.state == "running" or n.state in WAITING_STATES]

    @property
    def done(self) -> int:
        """Nodes that finished (completed or failed)."""
        return sum(1 for n in self.nodes if n.state in {"completed", "failed"})


def _links(definition: dict[str, Any]) -> dict[str, set[str]]:
    """Node id -> the nodes linked into it."""
    into: dict[str, set[str]] = {}
    for link in definition.get("links") or []:
        if not isinstance(link, dict):
            continue
        src = str(link.get("source", "")).split(".", 1)[0]
        dst = str(link.get("sink", "")).split(".", 1)[0]
        if src and dst:
            into.setdefault(dst, set()).add(src)
    return into


def progress(run_state: str, definition: dict[str, Any] | None, node_runs: list[NodeRun],
             events: list[RunEvent], run_started_at: datetime | None) -> list[NodeView]:
    """Every node of ``definition`` (in its order) with its state; pure."""
    by_node: dict[str, list[NodeRun]] = {}
    for nr in node_runs:
        by_node.setdefault(nr.node_id, []).append(nr)
    arrived: dict[str, datetime] = {}
    for e in events:
        if e.kind == "output" and e.sink_node:
            arrived[e.sink_node] = max(arrived.get(e.sink_node, e.at), e.at)
    into = _links(definition or {})
    declared = [(str(n.get("id")), str(n.get("block", ""))) for n in
                (definition or {}).get("nodes") or [] if isinstance(n, dict)]
    known = {node_id for node_id, _ in declared}
    # Nodes that ran but are not in the definition (it changed, or an engine-made node).
    declared += [(node_id, rows[0].block_id) for node_id, rows in by_node.items()
                 if node_id not in known]
    views: list[NodeView] = []
    for node_id, block_id in declared:
        rows = sorted(by_node.get(node_id, []),
                      key=lambda r: (r.completed_at or r.started_at or datetime.min))
        view = NodeView(node_id, block_id, "pending")
        if rows:
            last = rows[-1]
            view.state = last.state
            view.executions = len(rows)
            view.failures = sum(1 for r in rows if r.state == "failed")
            view.started_at = min((r.started_at for r in rows if r.started_at), default=None)
            view.completed_at = last.completed_at
            view.wall_time_s = sum(r.wall_time_s or 0.0 for r in rows)
            view.cost = sum(r.cost or 0.0 for r in rows)
            view.error = next((r.error for r in reversed(rows) if r.error), None)
            view.outputs = last.outputs
        elif run_state == RunState.RUNNING.value and (node_id in arrived
                                                      or not into.get(node_id)):
            view.state = "running"
            view.since = arrived.get(node_id, run_started_at)
        elif run_state in TERMINAL:
            view.state = "not run"
        views.append(view)
    return views


def run_view(session: Session, run_id: str, *, user_id: str | None) -> RunView:
    """The run ``run_id`` as ``user_id`` may see it (NotFound otherwise), read fresh."""
    run = visible(session, run_id, user_id)
    graph = graph_store.get(session, run.user_id, run.graph_id, run.graph_version)
    rows = node_store.for_run(session, run.id)
    events = run_store.events(session, run.id)
    nodes = progress(run.state, graph.definition if graph else None, rows, events,
                     run.started_at)
    view = RunView(run, nodes, rows, events, lookup.retries_of(session, run.id))
    session.commit()  # end the read (keeping the rows loaded): the next poll sees new writes
    return view
