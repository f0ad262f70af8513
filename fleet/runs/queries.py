"""Reading runs for the API and dashboard: filtered pages, capped counts, a run's detail.

Lists are keyset-paginated (newest first, by ``(created_at, id)``; at most
:data:`MAX_LIMIT` per page) and counts stop at :data:`COUNT_CAP` ("10 000+") instead of
scanning. Ownership as everywhere: ``user_id`` limits the answer to that user's runs
(another user's run is NotFound, like a missing one), None reads everyone's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.tracker import with_metrics
from fleet.errors import InvalidInput, NotFound
from fleet.redact import redact_data
from fleet.runs.filters import RunFilter
from fleet.store import graphs as graph_store
from fleet.store import keyset
from fleet.store import node_runs as node_store
from fleet.store import run_lists as store
from fleet.store import runs as run_store
from fleet.store.models import NodeRun, Run, RunEvent

MAX_LIMIT = 500
COUNT_CAP = 10_000
EVENT_LIMIT = 500


@dataclass(frozen=True)
class Count:
    """A count that stops at a cap."""

    value: int
    capped: bool

    @property
    def text(self) -> str:
        """``1 234`` or ``10 000+``."""
        return f"{self.value:,}".replace(",", " ") + ("+" if self.capped else "")

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"value": self.value, "capped": self.capped, "text": self.text}


def encode_cursor(created_at: datetime, run_id: str) -> str:
    """An opaque position after ``(created_at, run_id)``."""
    return keyset.encode(created_at, run_id)


def decode_cursor(cursor: str) -> store.Key:
    """The position of a cursor, or InvalidInput naming the ``cursor`` field."""
    at, run_id = keyset.decode(cursor, 2)
    if not isinstance(at, datetime) or not isinstance(run_id, str):
        raise InvalidInput("invalid cursor", ["cursor: not a cursor returned by this list"])
    return at, run_id


def check_limit(limit: int) -> int:
    """``limit`` if it is 1..500, else InvalidInput naming ``limit``."""
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput("invalid limit", [f"limit: must be 1-{MAX_LIMIT}, got {limit}"])
    return limit


@dataclass
class RunPage:
    """One page of runs and the cursor of the next one (None at the end)."""

    runs: list[Run]
    next_cursor: str | None


def list_runs(session: Session, f: RunFilter, *, user_id: str | None, limit: int = 50,
              cursor: str | None = None) -> RunPage:
    """The runs matching ``f`` that ``user_id`` may see, newest first, one page."""
    check_limit(limit)
    after = decode_cursor(cursor) if cursor else None
    rows = store.page(session, f.where(user_id), limit=limit + 1, after=after)
    session.commit()
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return RunPage(rows, encode_cursor(last.created_at, last.id) if more and last else None)


def count_runs(session: Session, f: RunFilter, *, user_id: str | None,
               cap: int = COUNT_CAP) -> Count:
    """How many runs match (stopping at ``cap``)."""
    n = store.count(session, f.where(user_id), cap=cap)
    session.commit()
    return Count(min(n, cap), n > cap)


def visible(session: Session, run_id: str, user_id: str | None) -> Run:
    """The run if ``user_id`` may see it (None: anyone), else NotFound (missing or not
    theirs, alike)."""
    run = run_store.get(session, run_id, fresh=True)
    if run is None or (user_id is not None and run.user_id != user_id):
        session.rollback()
        raise NotFound(f"run {run_id} does not exist"
                       + (f" for user '{user_id}'" if user_id else ""))
    return run


@dataclass
class Attempt:
    """One execution segment of a run, read from its transitions."""

    number: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None  # the state it left running for; None while running
    detail: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"number": self.number, "started_at": self.started_at,
                "ended_at": self.ended_at, "outcome": self.outcome, "detail": self.detail}


def attempts(transitions: list[RunEvent]) -> list[Attempt]:
    """Each entry into ``running`` up to the next transition out of it."""
    found: list[Attempt] = []
    for e in transitions:
        if e.to_state == "running":
            found.append(Attempt(len(found) + 1, e.at, None, None, e.detail))
        elif e.from_state == "running" and found and found[-1].ended_at is None:
            last = found[-1]
            found[-1] = Attempt(last.number, last.started_at, e.at, e.to_state, e.detail)
    return found


def event_dict(e: RunEvent) -> dict[str, Any]:
    """One run event as plain data, its data redacted."""
    return {"id": e.id, "at": e.at, "kind": e.kind, "from_state": e.from_state,
            "to_state": e.to_state, "source_node": e.source_node, "source_pin": e.source_pin,
            "sink_node": e.sink_node, "sink_pin": e.sink_pin,
            "data": redact_data(e.data), "detail": e.detail}


@dataclass
class RunDetail:
    """Everything the run page and ``GET /runs/{id}`` show, secrets redacted."""

    run: Run
    inputs: Any
    outputs: Any
    nodes: list[NodeRun]
    node_io: dict[str, tuple[Any, Any]]  # node run id -> (inputs, outputs), redacted
    events: list[dict[str, Any]]  # redacted, see event_dict
    events_total: Count
    attempts: list[Attempt]
    tracker: dict[str, Any] | None
    metrics: dict[str, Any] | None  # the tracker's run metrics (critical path, slowest node)
    definition: dict[str, Any] | None  # the graph version's definition (None if deleted)
    retries: list[str] = field(default_factory=list)


def detail(session: Session, run_id: str, *, user_id: str | None,
           event_limit: int = EVENT_LIMIT) -> RunDetail:
    """The run with its node runs, first events, attempts, tracker and graph definition."""
    run = visible(session, run_id, user_id)
    nodes = node_store.for_run(session, run_id)
    events = store.events(session, run_id, limit=event_limit)
    total = store.count_events(session, run_id, event_limit)
    graph = graph_store.get(session, run.user_id, run.graph_id, run.graph_version)
    # parsed once: the metrics shown beside the tracker are the ones it now carries
    tracker = with_metrics(run.tracker) if run.tracker else None
    found = RunDetail(
        run=run, inputs=redact_data(run.inputs), outputs=redact_data(run.outputs),
        nodes=nodes,
        node_io={n.id: (redact_data(n.inputs), redact_data(n.outputs)) for n in nodes},
        events=[event_dict(e) for e in events],
        events_total=Count(min(total, event_limit), total > event_limit),
        attempts=attempts(store.transitions(session, run_id)),
        tracker=redact_data(tracker) if tracker else None,
        metrics=(tracker or {}).get("metrics", {}).get("run"),
        definition=graph.definition if graph is not None else None,
        retries=store.retries_of(session, run_id))
    session.commit()
    return found
