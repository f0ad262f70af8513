"""Every system job by name: the one list the CLI, the periodiq actors and ``fleet dev`` read."""

from __future__ import annotations

from fleet.errors import NotFound
from fleet.ports import JobSpec
from fleet.sweeps import (
    accuracy,
    block_errors,
    dispatch,
    expired_files,
    expired_tokens,
    late_executions,
    queued_expiry,
    reaper,
    resend,
    retention,
    running_backstop,
    runtime_gc,
    search_coverage,
    stale_runtimes,
    waiting_timeouts,
    weekly_summary,
)

JOBS: tuple[JobSpec, ...] = (
    dispatch.SWEEP,
    reaper.SWEEP,
    stale_runtimes.SWEEP,
    resend.SWEEP,
    queued_expiry.SWEEP,
    running_backstop.SWEEP,
    waiting_timeouts.SWEEP,
    late_executions.SWEEP,
    block_errors.SWEEP,
    accuracy.SWEEP,
    weekly_summary.SWEEP,
    runtime_gc.SWEEP,
    retention.SWEEP,
    expired_files.SWEEP,
    expired_tokens.SWEEP,
    search_coverage.SWEEP,
)


def all_sweeps() -> dict[str, JobSpec]:
    """Name -> spec of every system job, in registry order."""
    return {spec.name: spec for spec in JOBS}


def get(name: str) -> JobSpec:
    """The job called ``name``, or a NotFound naming the known ones."""
    specs = all_sweeps()
    if name not in specs:
        raise NotFound(f"no system job called '{name}'; known jobs: {', '.join(specs)}")
    return specs[name]
