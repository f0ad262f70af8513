"""The API's request and response bodies (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleet.alerts.queries import AlertView
from fleet.observe.runtimes import RuntimeView
from fleet.observe.snapshot import Overview
from fleet.redact import redact, redact_data
from fleet.runs.diagnose import Diagnosis
from fleet.runs.queries import Attempt, Count, RunDetail
from fleet.scheduling.service import Preview, ScheduleView
from fleet.store.models import AuditEntry, BatchOperation, Graph, NodeRun, Run, ScheduleFire
from fleet.tokens.service import Principal

JSONValue = Any


class Out(BaseModel):
    """Base of the response bodies."""

    model_config = ConfigDict(from_attributes=True)


class MeOut(Out):
    """The caller."""

    user_id: str
    role: str
    token_prefix: str
    expires_at: datetime | None
    read_only: bool


class CountOut(Out):
    """A count that stops at 10 000 (``text`` is then ``10 000+``)."""

    value: int
    capped: bool
    text: str


def count_out(c: Count) -> CountOut:
    """The body of a count."""
    return CountOut(value=c.value, capped=c.capped, text=c.text)


# --- runs -----------------------------------------------------------------------------------


class RunSummary(Out):
    """A run as lists show it."""

    id: str
    user_id: str
    graph_id: str
    graph_version: int
    schedule_id: str | None
    scheduled_for: datetime | None
    retry_of: str | None
    state: str
    error_code: str | None
    attempt_count: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    wall_time_s: float | None


class RunOut(RunSummary):
    """A run with its inputs and outputs (secrets redacted) and its lease."""

    inputs: JSONValue = None
    outputs: JSONValue = None
    error_detail: str | None
    waiting_reason: str | None
    runtime_id: str | None
    lease_until: datetime | None
    heartbeat_at: datetime | None
    cpu_time_s: float | None
    node_count: int
    node_error_count: int
    cost: float
    correctness_score: float | None


def run_out(run: Run, inputs: Any = None, outputs: Any = None) -> RunOut:
    """The body of a run; ``inputs``/``outputs`` are the redacted ones."""
    data = RunSummary.model_validate(run).model_dump()
    return RunOut(**data, inputs=redact_data(run.inputs) if inputs is None else inputs,
                  outputs=redact_data(run.outputs) if outputs is None else outputs,
                  error_detail=run.error_detail, waiting_reason=run.waiting_reason,
                  runtime_id=run.runtime_id, lease_until=run.lease_until,
                  heartbeat_at=run.heartbeat_at, cpu_time_s=run.cpu_time_s,
                  node_count=run.node_count, node_error_count=run.node_error_count,
                  cost=run.cost, correctness_score=run.correctness_score)


class RunPageOut(Out):
    """One page of runs."""

    items: list[RunSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; "
                                                "null at the end.")
    count: CountOut | None = None


class NodeRunOut(Out):
    """One node execution."""

    id: str
    node_id: str
    block_id: str
    state: str
    attempt: int
    node_attempt: int = 1  # the node's attempt under its retry policy
    inputs: JSONValue = None
    outputs: JSONValue = None
    error: str | None
    started_at: datetime | None
    completed_at: datetime | None
    wall_time_s: float | None
    cost: float = Field(0.0, description="What this execution cost (its block's declared "
                                         "cost); the run's cost is the sum over its nodes.")


class EventOut(Out):
    """One run event (a transition, a routed output, a note)."""

    id: int | None
    at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    source_node: str | None
    source_pin: str | None
    sink_node: str | None
    sink_pin: str | None
    data: JSONValue = None
    detail: str | None


class AttemptOut(Out):
    """One execution segment of a run."""

    number: int
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    detail: str | None


class RunDetailOut(Out):
    """A run with everything known about it."""

    run: RunOut
    nodes: list[NodeRunOut]
    events: list[EventOut]
    events_total: CountOut
    attempts: list[AttemptOut]
    tracker: dict[str, JSONValue] | None
    metrics: dict[str, JSONValue] | None = Field(
        description="Whole-run figures from the tracker: node count and durations, the "
                    "slowest node, the critical path.")
    retries: list[str]


def _node_out(n: NodeRun, io: tuple[Any, Any]) -> NodeRunOut:
    return NodeRunOut(id=n.id, node_id=n.node_id, block_id=n.block_id, state=n.state,
                      attempt=n.attempt, node_attempt=n.node_attempt, inputs=io[0],
                      outputs=io[1], error=n.error,
                      started_at=n.started_at, completed_at=n.completed_at,
                      wall_time_s=n.wall_time_s, cost=n.cost)


def _attempt_out(a: Attempt) -> AttemptOut:
    return AttemptOut(**a.to_dict())


def detail_out(d: RunDetail) -> RunDetailOut:
    """The body of a run's detail."""
    return RunDetailOut(run=run_out(d.run, d.inputs, d.outputs),
                        nodes=[_node_out(n, d.node_io[n.id]) for n in d.nodes],
                        events=[EventOut(**e) for e in d.events],
                        events_total=count_out(d.events_total),
                        attempts=[_attempt_out(a) for a in d.attempts],
                        tracker=d.tracker, metrics=d.metrics, retries=d.retries)


class CauseOut(Out):
    """One reason a run is where it is."""

    code: str
    text: str


class DiagnosisOut(Out):
    """Why a run is not moving."""

    run_id: str
    state: str
    headline: str
    causes: list[CauseOut]
    facts: dict[str, JSONValue]


def diagnosis_out(d: Diagnosis) -> DiagnosisOut:
    """The body of a diagnosis."""
    return DiagnosisOut(run_id=d.run_id, state=d.state, headline=d.headline,
                        causes=[CauseOut(**c.to_dict()) for c in d.causes], facts=d.facts)


class SubmitIn(BaseModel):
    """A run to submit."""

    model_config = ConfigDict(extra="forbid", strict=True)

    graph_id: str = Field(min_length=1, max_length=128)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    inputs: dict[str, JSONValue] = Field(default_factory=dict)
    owner: str | None = Field(default=None, min_length=1, max_length=128,
                              description="Admins only: submit as this user.")


class RetryIn(BaseModel):
    """Inputs to replace when retrying (the others are kept)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    inputs: dict[str, JSONValue] | None = None


class RejectIn(BaseModel):
    """Why a run is rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(default=None, max_length=2000)


class CompleteToolIn(BaseModel):
    """A tool's result for a waiting node."""

    model_config = ConfigDict(extra="forbid", strict=True)

    node_id: str = Field(min_length=1, max_length=128)
    output: JSONValue = None


# --- graphs ---------------------------------------------------------------------------------


class GraphSummary(Out):
    """A graph's active version."""

    user_id: str
    id: str
    version: int
    name: str
    description: str
    timeout_s: float
    max_attempts: int
    is_active: bool
    is_archived: bool
    nodes: int
    links: int
    created_at: datetime
    updated_at: datetime


def graph_summary(g: Graph) -> GraphSummary:
    """The body of a graph in a list."""
    return GraphSummary(user_id=g.user_id, id=g.id, version=g.version, name=g.name,
                        description=g.description, timeout_s=g.timeout_s,
                        max_attempts=g.max_attempts, is_active=g.is_active,
                        is_archived=g.is_archived,
                        nodes=len(g.definition.get("nodes", []) or []),
                        links=len(g.definition.get("links", []) or []),
                        created_at=g.created_at, updated_at=g.updated_at)


class GraphOut(GraphSummary):
    """A graph version with its definition and the list of its versions."""

    definition: dict[str, JSONValue]
    versions: list[int]
    created: bool | None = None


def graph_out(g: Graph, versions: list[int], created: bool | None = None) -> GraphOut:
    """The body of one graph version."""
    return GraphOut(**graph_summary(g).model_dump(), definition=g.definition,
                    versions=versions, created=created)


class GraphPageOut(Out):
    """One page of graphs."""

    items: list[GraphSummary]
    next_cursor: str | None


class ValidateOut(Out):
    """Whether a definition is valid, and every problem."""

    valid: bool
    problems: list[str]


class RemovedOut(Out):
    """How many graph versions an archive or delete touched."""

    graph_id: str
    versions: int


# --- schedules ------------------------------------------------------------------------------


class FireTimeOut(Out):
    """One upcoming fire, in the schedule's zone and in UTC."""

    local: str
    utc: str


class ScheduleOut(Out):
    """A schedule with its description and next fires."""

    id: str
    user_id: str
    name: str
    graph_id: str
    graph_version: int | None
    cron: str
    timezone: str
    description: str
    inputs: dict[str, JSONValue]
    paused: bool
    paused_reason: str | None
    overlap_policy: str
    catchup_policy: str
    catchup_window_s: float
    next_run_at: str | None
    last_fired_at: str | None
    next_fires: list[FireTimeOut]


def schedule_out(v: ScheduleView) -> ScheduleOut:
    """The body of a schedule."""
    return ScheduleOut(**v.to_dict())


class SchedulePageOut(Out):
    """One page of schedules."""

    items: list[ScheduleOut]
    next_cursor: str | None


class FireOut(Out):
    """What happened at one scheduled instant."""

    scheduled_for: datetime
    outcome: str
    run_id: str | None
    detail: str | None
    at: datetime


def fire_out(f: ScheduleFire) -> FireOut:
    """The body of a fire record."""
    return FireOut(scheduled_for=f.scheduled_for, outcome=f.outcome, run_id=f.run_id,
                   detail=f.detail, at=f.at)


class ScheduleDetailOut(Out):
    """A schedule, its recent fires (fired, missed, skipped, failed) and latest runs."""

    schedule: ScheduleOut
    fires: list[FireOut]
    runs: list[RunSummary]


class ScheduleIn(BaseModel):
    """A schedule to add."""

    model_config = ConfigDict(extra="forbid", strict=True)

    graph_id: str = Field(min_length=1, max_length=128)
    cron: str = Field(min_length=1, max_length=256)
    timezone: str = Field(default="UTC", min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)
    inputs: dict[str, JSONValue] = Field(default_factory=dict)
    name: str = Field(default="", max_length=256)
    overlap: str = "skip"
    catchup: str = "latest"
    catchup_window_s: float | None = Field(default=None, ge=0, le=10 * 365 * 86_400)
    owner: str | None = Field(default=None, min_length=1, max_length=128,
                              description="Admins only: add it for this user.")


class PauseIn(BaseModel):
    """Why a schedule is paused."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: str | None = Field(default=None, max_length=500)


class PreviewOut(Out):
    """What a cron expression will do."""

    cron: str
    timezone: str
    description: str
    fires: list[FireTimeOut]


def preview_out(p: Preview) -> PreviewOut:
    """The body of a preview."""
    return PreviewOut(**p.to_dict())


class RunIdOut(Out):
    """The run an action created."""

    run_id: str


class DeletedOut(Out):
    """What was deleted."""

    id: str
    deleted: bool


# --- runtimes, sweeps, alerts ---------------------------------------------------------------


class RuntimeOut(Out):
    """A worker process."""

    id: str
    name: str
    hostname: str
    pid: int
    status: str
    queues: list[str]
    concurrency: int
    version: str
    registered_at: datetime
    last_seen_at: datetime
    offline_at: datetime | None
    heartbeat_age_s: float
    runs_held: int


def runtime_out(v: RuntimeView) -> RuntimeOut:
    """The body of a runtime."""
    return RuntimeOut(**v.to_dict())


class SweepOut(Out):
    """A system job, its cadence and its last run."""

    name: str
    description: str
    cron: str
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: str | None = None
    last_duration_s: float | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_report: dict[str, JSONValue] | None = None
    runs_total: int = 0
    errors_total: int = 0


class SweepRunOut(Out):
    """What running a system job by hand did."""

    name: str
    summary: str
    report: dict[str, JSONValue]


class DeliveryOut(Out):
    """One delivery of an alert to one destination (the URL itself is never shown)."""

    id: str
    send_count: int
    destination: str
    state: str
    attempts: int
    last_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None


class AlertOut(Out):
    """An alert incident and its deliveries."""

    id: str
    kind: str
    fingerprint: str
    tag: str
    user_id: str | None
    state: str
    message: str
    first_seen_at: datetime
    last_seen_at: datetime
    last_sent_at: datetime | None
    resolved_at: datetime | None
    send_count: int
    delivery_ok: bool | None
    delivery_result: str | None
    deliveries: list[DeliveryOut]


def alert_out(v: AlertView) -> AlertOut:
    """The body of an alert (messages and errors redacted)."""
    a = v.alert
    return AlertOut(id=a.id, kind=a.kind, fingerprint=a.fingerprint, tag=a.tag,
                    user_id=a.user_id, state=a.state, message=redact(a.message),
                    first_seen_at=a.first_seen_at, last_seen_at=a.last_seen_at,
                    last_sent_at=a.last_sent_at, resolved_at=a.resolved_at,
                    send_count=a.send_count, delivery_ok=a.delivery_ok,
                    delivery_result=redact(a.delivery_result) if a.delivery_result else None,
                    deliveries=[DeliveryOut(
                        id=d.id, send_count=d.send_count, destination=d.destination,
                        state=d.state, attempts=d.attempts, last_attempt_at=d.last_attempt_at,
                        sent_at=d.sent_at,
                        last_error=redact(d.last_error) if d.last_error else None)
                        for d in v.deliveries])


class AlertTestIn(BaseModel):
    """Which destinations to test."""

    model_config = ConfigDict(extra="forbid", strict=True)

    tag: Literal["ops", "product", "user"] = "ops"


class AlertTestOut(Out):
    """Whether the test notification went out."""

    tag: str
    ok: bool
    detail: str


# --- batches and audit ----------------------------------------------------------------------


class FilterIn(BaseModel):
    """The run filter (the same fields as the runs list's query parameters)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    state: list[str] | None = None
    graph: str | None = Field(default=None, max_length=256)
    user: str | None = Field(default=None, max_length=256)
    schedule: str | None = Field(default=None, max_length=256)
    error: str | None = Field(default=None, max_length=256)
    since: str | None = Field(default=None, max_length=64)
    until: str | None = Field(default=None, max_length=64)

    def params(self) -> dict[str, Any]:
        """As query parameters for :func:`fleet.runs.filters.parse`."""
        return {k: v for k, v in self.model_dump().items() if v is not None}


class BatchIn(BaseModel):
    """A batch operation: first with ``dry_run`` (the count), then for real."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["cancel", "retry"]
    filter: FilterIn = Field(default_factory=FilterIn)
    dry_run: bool = True


class BatchPreviewOut(Out):
    """How many runs a batch operation would touch now."""

    action: str
    filter: dict[str, str]
    count: CountOut


class BatchOut(Out):
    """A batch operation and its progress."""

    id: str
    user_id: str
    scope_user: str | None
    action: str
    filter: dict[str, JSONValue]
    state: str
    expected: int
    processed: int
    changed: int
    skipped: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


def batch_out(b: BatchOperation) -> BatchOut:
    """The body of a batch operation."""
    return BatchOut.model_validate(b)


class AuditOut(Out):
    """One audit entry."""

    id: int | None
    at: datetime
    actor: str
    role: str
    via: str
    action: str
    target_kind: str
    target_id: str | None
    target_user: str | None
    detail: dict[str, JSONValue]


def audit_out(e: AuditEntry) -> AuditOut:
    """The body of an audit entry."""
    return AuditOut.model_validate(e)


class AuditPageOut(Out):
    """One page of the audit log, newest first."""

    items: list[AuditOut]
    next_before: int | None = Field(description="Pass as `before` for the next page.")


# --- overview -------------------------------------------------------------------------------


class JobStatusOut(Out):
    """A system job's last run."""

    name: str
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_outcome: str | None
    last_duration_s: float | None
    last_success_at: datetime | None
    last_error: str | None


class WorkerOut(Out):
    """An online worker and its load."""

    id: str
    hostname: str
    pid: int
    name: str
    concurrency: int
    held: int
    last_seen_at: datetime


class FiringOut(Out):
    """A firing alert (its message is shown to admins only)."""

    id: str
    kind: str
    tag: str
    message: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class OverviewOut(Out):
    """The health of the fleet at a glance (a shared snapshot)."""

    taken_at: datetime
    active: dict[str, int]
    queue_depth: int
    queue_lag_s: float | None
    runs_per_minute: float
    finished_last_hour: int
    failure_rate: float | None
    p95_run_s: float | None
    late_queued: int
    late_running: int
    runtimes: dict[str, int]
    workers: list[WorkerOut]
    jobs: list[JobStatusOut]
    firing: list[FiringOut]


def overview_out(o: Overview, principal: Principal) -> OverviewOut:
    """The body of the overview; alert messages (which may name other users' runs) only
    for admins."""
    visible = [a for a in o.firing if principal.is_admin or a.user_id == principal.user_id
               or a.tag != "user"]
    return OverviewOut(
        taken_at=o.taken_at, active=o.active, queue_depth=o.queue_depth,
        queue_lag_s=o.queue_lag_s, runs_per_minute=o.runs_per_minute,
        finished_last_hour=o.finished_last_hour, failure_rate=o.failure_rate,
        p95_run_s=o.p95_run_s, late_queued=o.late_queued, late_running=o.late_running,
        runtimes=o.runtimes,
        workers=[WorkerOut.model_validate(w) for w in o.workers],
        jobs=[JobStatusOut.model_validate(j) for j in o.jobs],
        firing=[FiringOut(id=a.id, kind=a.kind, tag=a.tag,
                          message=redact(a.message) if principal.is_admin
                          or a.user_id == principal.user_id else None,
                          first_seen_at=a.first_seen_at, last_seen_at=a.last_seen_at)
                for a in visible])


def me_out(p: Principal, read_only: bool) -> MeOut:
    """The body of ``GET /me``."""
    return MeOut(user_id=p.user_id, role=p.role, token_prefix=p.prefix,
                 expires_at=p.expires_at, read_only=read_only)
