"""The schedule dispatcher (SPEC §7): due schedules become queued runs, exactly once.

Each pass works in batches, one transaction each:

1. lock a batch of due schedules (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   ``BEGIN IMMEDIATE`` on SQLite), load their graphs and active runs;
2. decide each schedule with :func:`fleet.scheduling.policy.plan`;
3. a schedule whose graph is gone or archived is removed; one whose graph
   (or inputs) no longer validates is paused with the reason and a
   ``failed`` fire is recorded;
4. create the runs (``ON CONFLICT DO NOTHING`` on the unique ``(schedule_id,
   scheduled_for)``: a second dispatcher cannot duplicate a fire) and advance
   ``next_run_at``: on PostgreSQL one statement for the batch's runs, their first
   events and the schedules' updates (:func:`fleet.store.schedules.insert_fired`),
   elsewhere :func:`fleet.runs.create.create_many` and one update; a fired run is
   the record of its fire (no fire row beside it); record misses and skips; commit;
5. send the new runs and record the sends (:func:`fleet.runs.sending.send_and_record`;
   a refused send is left to the re-send sweep), and notify owners of paused schedules.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.errors import InvalidInput
from fleet.ports import JobContext, Report
from fleet.runs import fsm
from fleet.runs.checks import CachedChecker
from fleet.runs.create import NewRun, create_many
from fleet.runs.sending import send_and_record
from fleet.scheduling import cron, outcomes
from fleet.scheduling.policy import Plan, plan
from fleet.scheduling.service import PAUSED_ALERT
from fleet.store import graphs as graph_store
from fleet.store import runs as run_store
from fleet.store import schedules as store
from fleet.store.db import begin_write
from fleet.store.models import Graph, RunState
from fleet.store.schedules import DueSchedule

log = logging.getLogger("fleet.scheduling")

_MAX_BATCHES = 10_000  # a pass ends long before this; a guard against a bug looping


@dataclass
class DispatchReport(Report):
    """What one dispatcher pass did."""

    examined: int = 0
    fired: int = 0
    missed: int = 0
    skipped: int = 0
    failed: int = 0
    buffered: int = 0
    duplicates: int = 0  # fires another dispatcher had already made
    removed: list[str] = field(default_factory=list)
    paused: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    cancel_requested: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)
    batches: int = 0

    def merge(self, other: DispatchReport) -> None:
        """Add what another lane of the same pass did."""
        for name in ("examined", "fired", "missed", "skipped", "failed", "buffered",
                     "duplicates", "batches"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("removed", "paused", "cancelled", "cancel_requested", "run_ids", "unsent"):
            getattr(self, name).extend(getattr(other, name))

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"dispatch: examined {self.examined}, fired {self.fired}, missed {self.missed}, "
                f"skipped {self.skipped}, failed {self.failed}, buffered {self.buffered}, "
                f"removed {len(self.removed)}, paused {len(self.paused)}"
                + (f", unsent {len(self.unsent)}" if self.unsent else "")
                + (f", duplicates {self.duplicates}" if self.duplicates else ""))


@dataclass
class _Batch:
    """Rows one batch writes, gathered before touching the database."""

    runs: list[tuple[DueSchedule, Graph, datetime]] = field(default_factory=list)  # to fire
    records: list[dict[str, Any]] = field(default_factory=list)  # missed, skipped, failed
    updates: list[dict[str, Any]] = field(default_factory=list)
    plans: dict[tuple[Any, ...], Plan] = field(default_factory=dict)  # shared, read-only
    remove: list[tuple[str, str]] = field(default_factory=list)  # (schedule id, reason)
    pause: list[tuple[DueSchedule, str]] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # schedule ids whose active runs end
    # (outcome, schedule id, instant, detail, how many instants the line stands for)
    logs: list[tuple[str, str, datetime | None, str, int]] = field(default_factory=list)


GraphKey = tuple[str, str, int | None]  # (owner, graph id, version or None: the active one)


def _graph_of(graphs: dict[GraphKey, Graph | None], schedule: DueSchedule) -> Graph | None:
    return graphs.get((schedule.user_id, schedule.graph_id, schedule.graph_version))


def _load_graphs(session: Session, schedules: list[DueSchedule]) -> dict[GraphKey, Graph | None]:
    graphs: dict[GraphKey, Graph | None] = {}
    for s in schedules:
        key = (s.user_id, s.graph_id, s.graph_version)
        if key not in graphs:
            graphs[key] = graph_store.get(session, s.user_id, s.graph_id, s.graph_version)
    return graphs


class _Checks:
    """The fire-time check of one pass, once per (owner, graph version, stored inputs).

    Graph ids are per owner: two owners' ``g1`` version 1 are two graphs, so the
    verdict is keyed by the owner too. Schedules with the same stored inputs (their
    JSON text) share a verdict without the inputs being serialized again each.
    """

    def __init__(self, checker: CachedChecker) -> None:
        self.checker = checker
        self.verdicts: dict[tuple[str, str, int, str], list[str]] = {}

    def problems(self, graph: Graph, schedule: DueSchedule) -> list[str]:
        """The problems of ``graph`` and of the schedule's inputs for it."""
        key = (graph.user_id, graph.id, graph.version, schedule.input_text)
        found = self.verdicts.get(key)
        if found is None:
            found = self.verdicts[key] = self.checker.problems(
                (f"{graph.user_id}\x00{graph.id}", graph.version), graph.definition,
                schedule.input_data)
        return found


def _decide(schedule: DueSchedule, graph: Graph | None, active: bool, now: datetime,
            ctx: JobContext, checker: _Checks, batch: _Batch) -> Plan | None:
    """Plan one schedule into ``batch``; None when it was removed or paused instead."""
    settings = ctx.settings
    if graph is None or graph.is_archived:
        why = "is archived" if graph is not None and graph.is_archived else "no longer exists"
        version = schedule.graph_version if schedule.graph_version is not None else "active"
        batch.remove.append((schedule.id, f"graph {schedule.graph_id} (version {version}) {why}"))
        return None
    try:
        expr = cron.parse(schedule.cron, schedule.timezone)
        problems = checker.problems(graph, schedule)
        if problems:
            batch.pause.append((schedule, f"graph {graph.id} version {graph.version} is no "
                                          "longer valid: " + "; ".join(problems)))
            return None
        # Schedules due together mostly share their cron, zone and policies: plan once.
        key = (expr, schedule.next_run_at, schedule.catchup_policy, schedule.catchup_window_s,
               schedule.overlap_policy, active, schedule.buffered_for)
        found = batch.plans.get(key)
        if found is None:
            found = batch.plans[key] = plan(
                expr, schedule.next_run_at, now,
                catchup=schedule.catchup_policy, window_s=schedule.catchup_window_s,
                grace_s=settings.schedule_misfire_grace_s, overlap=schedule.overlap_policy,
                active=active, buffered_for=schedule.buffered_for,
                max_fires=settings.max_schedule_catchup_fires,
            )
        return found
    except InvalidInput as exc:
        batch.pause.append((schedule, f"schedule can no longer be evaluated: {exc.message}: "
                                      + "; ".join(exc.problems)))
        return None


def _apply(schedule: DueSchedule, graph: Graph, p: Plan, now: datetime, batch: _Batch) -> None:
    for when in p.fire:
        batch.runs.append((schedule, graph, when))
    for when, detail in p.missed:
        batch.records.append(store.fire_row(schedule.id, when, "missed", now, detail=detail))
    if p.missed:
        # One line per schedule and tick: a long outage must not flood the log.
        (first, detail), (last, _) = p.missed[0], p.missed[-1]
        span = "" if len(p.missed) == 1 else f" ({len(p.missed)} instants up to {last.isoformat()})"
        batch.logs.append(("missed", schedule.id, first, detail + span, len(p.missed)))
    for when, detail in p.skipped:
        batch.records.append(store.fire_row(schedule.id, when, "skipped", now, detail=detail))
        batch.logs.append(("skipped", schedule.id, when, detail, 1))
    if p.cancel_active:
        batch.cancel.append(schedule.id)
    # every update carries the same keys: the batch is one statement
    batch.updates.append({"id": schedule.id, "next_run_at": p.next_run_at,
                          "buffered_for": p.buffered_for, "updated_at": now,
                          "last_fired_at": max(p.fire) if p.fire else schedule.last_fired_at})


def _cancel_active(session: Session, active: list[tuple[str, str]], now: datetime,
                   report: DispatchReport) -> None:
    """Overlap ``cancel_previous``: end queued/waiting runs, flag running ones."""
    for run_id, state in active:
        if state == RunState.RUNNING.value:
            run_store.update_where(session, [run_id], from_states=[state],
                                   values={"cancel_requested": True})
            report.cancel_requested.append(run_id)
        else:
            report.cancelled += fsm.transition_many(
                session, [run_id], [RunState(state)], RunState.CANCELLED, now,
                detail="cancelled by the next fire of its schedule (overlap cancel_previous)")


def _detail(schedule_id: str, when: datetime, iso: dict[datetime, str]) -> str:
    """The first event of a fired run: which schedule, which instant."""
    text = iso.get(when)
    if text is None:  # a batch repeats the same few instants
        text = iso[when] = when.isoformat()
    return f"fired by schedule {schedule_id} for {text}"


def _create(session: Session, batch: _Batch, now: datetime) -> list[store.Fired]:
    """Insert the batch's runs (recorded as sent: they are sent right after the commit)
    with their first events, and advance its schedules; the runs inserted. A fire already
    made (same schedule and instant: another dispatcher) is skipped."""
    iso: dict[datetime, str] = {}
    if store.fires_in_one_statement(session):
        return store.insert_fired(session, [
            store.FireRun(schedule_id=s.id, scheduled_for=when, graph_version=g.version,
                          max_attempts=g.max_attempts, timeout_s=g.timeout_s,
                          detail=_detail(s.id, when, iso))
            for s, g, when in batch.runs], batch.updates, now)
    made = create_many(session, [
        NewRun(user_id=s.user_id, graph=g, inputs=dict(s.input_data or {}),
               detail=_detail(s.id, when, iso), schedule_id=s.id, scheduled_for=when,
               # the schedule's credentials reach every run it fires
               credentials=dict(s.credential_refs or {}))
        for s, g, when in batch.runs], now, sending=True)
    store.update_many(session, batch.updates)
    return [store.Fired(r.id, r.schedule_id, r.scheduled_for) for r in made
            if r.schedule_id is not None and r.scheduled_for is not None]


def _write(session: Session, schedules: list[DueSchedule], now: datetime, ctx: JobContext,
           checker: _Checks,
           report: DispatchReport) -> tuple[list[str], list[tuple[DueSchedule, str]]]:
    """Decide and write one locked batch; returns (new run ids, schedules paused)."""
    graphs = _load_graphs(session, schedules)
    active = store.active_runs(session, [s.id for s in schedules])
    batch = _Batch()
    graph_for_run: dict[str, Graph] = {}
    for schedule in schedules:
        graph = _graph_of(graphs, schedule)
        p = _decide(schedule, graph, bool(active.get(schedule.id)), now, ctx, checker, batch)
        if p is not None and graph is not None:
            _apply(schedule, graph, p, now, batch)
            graph_for_run[schedule.id] = graph
            if p.buffered_for is not None and p.buffered_for != schedule.buffered_for:
                report.buffered += 1
                batch.logs.append(("buffered", schedule.id, p.buffered_for,
                                   "previous run still active; held until it ends", 1))

    for schedule_id in batch.cancel:
        _cancel_active(session, active.get(schedule_id, []), now, report)
    # A fired instant's record is its run (store.fires): no fire row is written beside it.
    inserted = _create(session, batch, now)
    report.duplicates += len(batch.runs) - len(inserted)
    run_ids = [r.run_id for r in inserted]
    paused: list[tuple[DueSchedule, str]] = []
    for schedule, reason in batch.pause:
        when = schedule.next_run_at or now
        store.update_values(session, schedule.id, {"paused": True, "paused_reason": reason,
                                                   "updated_at": now})
        batch.records.append(store.fire_row(schedule.id, when, "failed", now, detail=reason))
        batch.logs.append(("failed", schedule.id, when, f"paused: {reason}", 1))
        paused.append((schedule, reason))
    store.insert_fires(session, batch.records)
    if batch.remove:
        store.delete_ids(session, [sid for sid, _ in batch.remove])
    session.commit()

    if outcomes.logged("fired"):  # 100 000 lines a pass are not built to be dropped
        for r in inserted:
            outcomes.record("fired", r.schedule_id, r.scheduled_for, f"run {r.run_id}")
    for outcome, sid, at, detail, count in batch.logs:
        if outcome == "buffered":
            log.info("schedule %s buffered %s: %s", sid, at, detail)
        else:
            outcomes.record(outcome, sid, at, detail, count=count)
    for sid, reason in batch.remove:
        log.warning("schedule %s removed at %s: %s", sid, now.isoformat(), reason)
    report.fired += len(inserted)
    report.missed += sum(1 for f in batch.records if f["outcome"] == "missed")
    report.skipped += sum(1 for f in batch.records if f["outcome"] == "skipped")
    report.failed += len(paused)
    report.removed += [sid for sid, _ in batch.remove]
    report.paused += [s.id for s, _ in paused]
    return run_ids, paused


def _send(session: Session, run_ids: list[str], now: datetime, ctx: JobContext,
          report: DispatchReport) -> None:
    result = send_and_record(session, run_ids, now, ctx.send_run, what="scheduled run",
                             send_many=ctx.send_many, recorded=True)
    report.unsent += result.unsent
    report.run_ids += run_ids


def _notify(session: Session, paused: list[tuple[DueSchedule, str]], now: datetime,
            ctx: JobContext) -> None:
    if ctx.alerts is None:
        return
    for schedule, reason in paused:
        try:
            ctx.alerts.fire(session, now, kind=PAUSED_ALERT, fingerprint=schedule.id,
                            message=f"Your schedule {schedule.name or schedule.id} "
                                    f"({schedule.cron} {schedule.timezone}) was paused: "
                                    f"{reason}. "
                                    "Fix the graph, then `fleet schedules resume`.",
                            tag="user", user_id=schedule.user_id)
            session.commit()
        except Exception:  # the fire record and the log line remain
            session.rollback()
            log.exception("could not notify %s that schedule %s was paused",
                          schedule.user_id, schedule.id)


def _dispatch(session: Session, schedules: list[DueSchedule], now: datetime, ctx: JobContext,
              checker: _Checks, report: DispatchReport) -> None:
    """One locked batch: write its runs and fires, then send runs and notify owners."""
    run_ids, paused = _write(session, schedules, now, ctx, checker, report)
    report.batches += 1
    _send(session, run_ids, now, ctx, report)
    _notify(session, paused, now, ctx)


def _drain(session: Session, now: datetime, ctx: JobContext, checker: _Checks,
           report: DispatchReport) -> None:
    """Take due batches until none is left (or one is seen twice: a bug, stop)."""
    size = ctx.settings.dispatch_batch_size
    seen: set[str] = set()
    for _ in range(_MAX_BATCHES):
        begin_write(session, "dispatcher")
        batch = store.due_batch(session, now, size)
        if not batch:
            session.commit()
            break
        if any(s.id in seen for s in batch):
            session.rollback()
            log.error("dispatcher saw schedule(s) again in one pass; stopping this pass")
            break
        seen.update(s.id for s in batch)
        report.examined += len(batch)
        _dispatch(session, batch, now, ctx, checker, report)
        if len(batch) < size:
            break


def run_once(session: Session, now: datetime, ctx: JobContext, *,
             registry: BlockRegistry | None = None) -> DispatchReport:
    """Fire every schedule due at ``now``, in batches; commits per batch, sends after commit.

    ``registry`` validates the graphs at fire time (the default blocks when None).
    """
    report = DispatchReport()
    check = _Checks(CachedChecker(registry or default_registry(), ctx.settings.max_input_bytes))
    size = ctx.settings.dispatch_batch_size
    if session.in_transaction():
        session.commit()

    # Buffered fires (overlap buffer_one) wait for their active run, not for the clock.
    after_id = ""
    for _ in range(_MAX_BATCHES):
        begin_write(session, "dispatcher")
        batch = store.buffered_batch(session, after_id, size)
        if not batch:
            session.commit()
            break
        after_id = batch[-1].id
        due_now = [s for s in batch if s.next_run_at is None or s.next_run_at > now]
        report.examined += len(due_now)
        _dispatch(session, due_now, now, ctx, check, report)
        if len(batch) < size:
            break

    lanes = ctx.settings.dispatch_parallel if store.locks_rows(session) else 1
    if lanes <= 1:
        _drain(session, now, ctx, check, report)
    else:
        # Due batches are taken with SKIP LOCKED: several lanes never take the same
        # schedule, and one lane's database round trips overlap another's work.
        reports = [DispatchReport() for _ in range(lanes)]
        errors: list[BaseException] = []
        bind = session.get_bind()

        def lane(i: int) -> None:
            try:
                with Session(bind, expire_on_commit=False) as own:
                    _drain(own, now, ctx, check, reports[i])
            except BaseException as exc:  # raised in the caller's thread below
                errors.append(exc)

        threads = [threading.Thread(target=lane, args=(i,), name=f"fleet-dispatch-{i}")
                   for i in range(lanes)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in reports:
            report.merge(r)
        if errors:
            raise errors[0]
    if report.examined:
        log.info(report.summary())
    return report
