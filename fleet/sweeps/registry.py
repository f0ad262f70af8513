"""Every system job by name: the one list the CLI, the periodiq actors and ``fleet dev`` read.

Also the start-up check that the configured cadences keep the fleet's promises.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fleet.errors import ConfigError, NotFound
from fleet.ports import JobSpec
from fleet.scheduling import cron
from fleet.settings import Settings
from fleet.sweeps import (
    accuracy,
    alert_delivery,
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
    alert_delivery.SWEEP,
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


def max_gap_s(spec: str) -> float:
    """The longest wait between two fires of the five-field UTC cron ``spec`` (over 8 weeks)."""
    expr = cron.parse(spec, "UTC")
    start = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday: weeks line up with day-of-week fields
    end = start + timedelta(weeks=8)
    gap, prev = 0.0, expr.next_after(start)
    while prev is not None and prev < end:
        nxt = expr.next_after(prev)
        if nxt is None:
            break
        gap, prev = max(gap, (nxt - prev).total_seconds()), nxt
    return gap


def check_cadences(settings: Settings) -> None:
    """Refuse cadences under which the fleet's own promises cannot hold (a ConfigError).

    The stale-runtime job must look at least once per ``stale_runtime_after_s``
    and the re-send job at least once per ``resend_after_s``: otherwise a dead
    worker or a lost message waits more than twice the numbers the operator
    configured. (Expired leases are reaped by every live worker's heartbeat; the
    reaper job is only the backstop, so its cadence is free.)
    """
    rules = (("cron_stale_runtimes", "stale_runtime_after_s"),
             ("cron_resend", "resend_after_s"))
    problems = []
    for cron_name, bound_name in rules:
        gap, bound = max_gap_s(getattr(settings, cron_name)), getattr(settings, bound_name)
        if gap > bound:
            problems.append(f"FLEET_{cron_name.upper()} fires only every {gap:g}s, more than "
                            f"FLEET_{bound_name.upper()} ({bound:g}s)")
    if problems:
        raise ConfigError("inconsistent fleet configuration: " + "; ".join(problems)
                          + ". Make the jobs run more often or raise the bounds.")
