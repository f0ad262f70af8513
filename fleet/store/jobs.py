"""Queries on ``system_jobs``: the last start, end, outcome and duration of each job.

Nothing here commits. Every write is one upsert keyed by the job's name, so any
process (a system worker, ``fleet sweep``, ``fleet dev``) can record a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session, col

from fleet.store.db import upsert_insert
from fleet.store.models import SystemJob


def _ensure(session: Session, name: str) -> None:
    session.execute(upsert_insert(session, SystemJob).values(
        name=name, runs_total=0, errors_total=0, skipped_total=0,
    ).on_conflict_do_nothing(index_elements=["name"]))


def started(session: Session, name: str, now: datetime) -> None:
    """Record that ``name`` started at ``now``."""
    _ensure(session, name)
    session.execute(update(SystemJob).where(col(SystemJob.name) == name)
                    .values(last_started_at=now, runs_total=col(SystemJob.runs_total) + 1))


def finished(session: Session, name: str, now: datetime, *, ok: bool, duration_s: float,
             report: dict[str, Any] | None = None, error: str | None = None) -> None:
    """Record how ``name`` ended at ``now``."""
    _ensure(session, name)
    values: dict[str, Any] = {"last_finished_at": now, "last_outcome": "ok" if ok else "error",
                              "last_duration_s": duration_s, "last_error": error}
    if ok:
        values.update(last_success_at=now, last_report=report)
    else:
        values["errors_total"] = col(SystemJob.errors_total) + 1
    session.execute(update(SystemJob).where(col(SystemJob.name) == name).values(**values))


def skipped(session: Session, name: str, now: datetime) -> None:
    """Record that a stale message of ``name`` was skipped at ``now``."""
    _ensure(session, name)
    session.execute(update(SystemJob).where(col(SystemJob.name) == name)
                    .values(last_outcome="skipped",
                            skipped_total=col(SystemJob.skipped_total) + 1))


def get(session: Session, name: str) -> SystemJob | None:
    """The job's row (freshly read), or None when it never ran."""
    return session.get(SystemJob, name, populate_existing=True)


def all_jobs(session: Session, names: Sequence[str] | None = None) -> dict[str, SystemJob]:
    """Every recorded job (or those of ``names``) by name."""
    stmt = select(SystemJob)
    if names is not None:
        stmt = stmt.where(col(SystemJob.name).in_(list(names)))
    rows = session.execute(stmt.execution_options(populate_existing=True)).scalars().all()
    return {r.name: r for r in rows}
