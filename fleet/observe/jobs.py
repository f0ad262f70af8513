"""Each system job's last run, from the ``system_jobs`` table the job runner records."""

from __future__ import annotations

from sqlmodel import Session

from fleet.observe.snapshot import JobStatus
from fleet.store import observe


def last_runs(session: Session) -> dict[str, JobStatus]:
    """Name -> last run of every job that ran at least once."""
    rows = observe.system_jobs(session)
    session.commit()
    return {j.name: JobStatus(j.name, j.last_started_at, j.last_finished_at, j.last_outcome,
                              j.last_duration_s, j.last_success_at, j.last_error,
                              j.last_report, j.runs_total, j.errors_total) for j in rows}
