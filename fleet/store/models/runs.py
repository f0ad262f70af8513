"""Runs, their node executions and their event flow."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from fleet.store.types import BIG_SERIAL, UTCDateTime, new_id


class RunState(StrEnum):
    """The states of SPEC §4."""

    QUEUED = "queued"
    RUNNING = "running"
    WAITING_TOOL = "waiting_tool"
    WAITING_APPROVAL = "waiting_approval"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"


TERMINAL_STATES: frozenset[RunState] = frozenset(
    {RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED, RunState.TIMEOUT}
)
ACTIVE_STATES: frozenset[RunState] = frozenset(set(RunState) - TERMINAL_STATES)


# The unfinished states as SQL, literally: a partial index on it serves a query only
# when the query repeats it with constants (not bound parameters).
ACTIVE_PREDICATE = "state IN (" + ", ".join(f"'{s}'" for s in sorted(ACTIVE_STATES)) + ")"


def _where(condition: str) -> dict[str, Any]:
    """A partial index's predicate on both databases; a bare column name means NOT NULL."""
    if condition.isidentifier():
        condition = f"{condition} IS NOT NULL"
    return {"postgresql_where": text(condition), "sqlite_where": text(condition)}


class Run(SQLModel, table=True):
    """One execution of one graph version."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "scheduled_for", name="uq_runs_schedule_fire"),
        # Each sweep reads through one of these, so its cost follows its matches. Every
        # index costs each insert and each state change, so an index whose queries only
        # ask for rows with a value there is partial: a new run enters none of those.
        Index("ix_runs_state_lease_until", "state", "lease_until", **_where("lease_until")),
        Index("ix_runs_state_queued_at", "state", "queued_at"),
        Index("ix_runs_state_started_at", "state", "started_at", **_where("started_at")),
        Index("ix_runs_state_completed_at", "state", "completed_at",
              **_where("completed_at")),
        Index("ix_runs_runtime_state", "runtime_id", "state", **_where("runtime_id")),
        Index("ix_runs_user_created", "user_id", "created_at"),
        Index("ix_runs_graph_completed", "graph_id", "completed_at", **_where("completed_at")),
        # the dispatcher's overlap check: only the schedules' unfinished runs
        Index("ix_runs_schedule_active", "schedule_id", "state", **_where(ACTIVE_PREDICATE)),
        Index("ix_runs_completed_at", "completed_at", **_where("completed_at")),
        # The API's and dashboard's run lists (SPEC §12): newest first, keyset-paginated on
        # (created_at, id), one index per filter so each page reads only what it shows.
        Index("ix_runs_created", "created_at", "id"),
        Index("ix_runs_state_created", "state", "created_at", "id"),
        Index("ix_runs_user_state_created", "user_id", "state", "created_at", "id"),
        Index("ix_runs_graph_created", "graph_id", "created_at", "id"),
        Index("ix_runs_schedule_created", "schedule_id", "created_at", "id",
              **_where("schedule_id")),
        Index("ix_runs_error_created", "error_code", "created_at", "id", **_where("error_code")),
        Index("ix_runs_retry_of", "retry_of", **_where("retry_of")),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    user_id: str = Field(max_length=128)
    graph_id: str = Field(max_length=128)
    graph_version: int
    schedule_id: str | None = Field(default=None, max_length=64)
    scheduled_for: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retry_of: str | None = Field(default=None, max_length=64)  # the run this one retries

    state: str = Field(default=RunState.QUEUED.value, max_length=32)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Credential ids only, by the node pin they feed ("node.pin" -> id); never secrets.
    credentials: dict[str, str] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    outputs: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    error_code: str | None = Field(default=None, max_length=64)
    error_detail: str | None = None
    waiting_reason: str | None = None

    attempt_count: int = 0
    max_attempts: int = 3
    lease_id: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    heartbeat_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    runtime_id: str | None = Field(default=None, max_length=64)
    cancel_requested: bool = False

    created_at: datetime = Field(sa_type=UTCDateTime)
    queued_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    state_changed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    send_count: int = 0  # messages sent since the run last entered queued (re-send backoff)
    timeout_s: float | None = None

    wall_time_s: float | None = None
    cpu_time_s: float | None = None
    # Running time of the segments that ended (a segment: claim to park, release or loss);
    # the run's timeout counts this plus the current segment.
    run_time_s: float = 0.0
    node_count: int = 0
    node_error_count: int = 0
    cost: float = 0.0
    correctness_score: float | None = None
    tracker: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class NodeRun(SQLModel, table=True):
    """One execution of one node inside a run: the engine's checkpoint."""

    __tablename__ = "node_runs"
    __table_args__ = (
        UniqueConstraint("run_id", "exec_key", name="uq_node_runs_exec_key"),
        Index("ix_node_runs_block_completed", "block_id", "completed_at"),
        Index("ix_node_runs_completed_at", "completed_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=64)
    # No index of its own: ``uq_node_runs_exec_key`` starts with it and serves every
    # lookup by run (and the cascade), and each node run would write one entry more.
    run_id: str = Field(
        sa_column=Column(String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    )
    node_id: str = Field(max_length=128)
    block_id: str = Field(max_length=128)
    # Deterministic key of this execution (node + the inputs that triggered it),
    # so a retried run recognises work it already finished.
    exec_key: str = Field(max_length=256)
    state: str = Field(max_length=32)
    inputs: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    outputs: list[Any] | None = Field(default=None, sa_column=Column(JSON))
    error: str | None = None
    attempt: int = 1  # the run's attempt (its claim) that executed the node
    # The node's attempt under its retry policy: 1, then 2, 3... (a failed attempt that
    # was retried is stored under the key ``exec_key@node_attempt``).
    node_attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wall_time_s: float | None = None
    cost: float = 0.0
    # For a node parked in a waiting state: what resuming it needs (approval
    # outputs, tool request and result pin).
    resume: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))


class RunEvent(SQLModel, table=True):
    """The event flow of a run: state transitions and routed outputs."""

    __tablename__ = "run_events"
    __table_args__ = (Index("ix_run_events_run_id_id", "run_id", "id"),
                      Index("ix_run_events_at", "at"))

    # 64-bit: at 1 M runs a day a 32-bit serial runs out in about 430 days
    id: int | None = Field(default=None, sa_column=Column(BIG_SERIAL, primary_key=True))
    run_id: str = Field(
        sa_column=Column(String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)
    )
    at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(max_length=32)  # transition | output | note
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    source_node: str | None = Field(default=None, max_length=128)
    source_pin: str | None = Field(default=None, max_length=128)
    sink_node: str | None = Field(default=None, max_length=128)
    sink_pin: str | None = Field(default=None, max_length=128)
    data: Any | None = Field(default=None, sa_column=Column(JSON))
    detail: str | None = None
