"""Block error rates (SPEC §8): blocks failing too often over the last window.

Blocks with at least ``block_error_min_executions`` executions and an error
rate of at least ``block_error_rate_threshold`` raise one alert each, with up
to ``block_error_samples`` masked and grouped sample errors. Otherwise a
daily summary names the top blocks by errors, or says there were none.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.alerts.masking import group
from fleet.ports import JobContext, JobSpec, Report
from fleet.store import alerts as alert_store
from fleet.store import monitors
from fleet.sweeps.notices import send_notice

KIND = "block_error_rate"
SUMMARY_KIND = "block_error_summary"
NO_ERRORS = "No block errors in the last {hours:g} h."
SAMPLE_SCAN = 200  # failed executions read per alerting block to pick samples from


@dataclass
class BlockErrorsReport(Report):
    """The monitor's findings and message."""

    alerting: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    message: str = ""
    blocks: int = 0

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return f"block_errors: {len(self.alerting)} block(s) over threshold of {self.blocks}"


def over_threshold(rows: Sequence[monitors.BlockStats], min_executions: int,
                   threshold: float) -> list[monitors.BlockStats]:
    """Blocks with at least ``min_executions`` runs and an error rate of at least ``threshold``,
    worst first."""
    bad = [r for r in rows if r.executions >= min_executions
           and r.errors >= threshold * r.executions - 1e-9]
    return sorted(bad, key=lambda r: (-r.error_rate, -r.errors, r.block_id))


def alert_message(row: monitors.BlockStats, samples: Sequence[tuple[str, int]],
                  hours: float) -> str:
    """The alert text for one block."""
    lines = [f"Block {row.block_id}: {row.errors} of {row.executions} executions failed "
             f"({row.error_rate:.0%}) in the last {hours:g} h."]
    if samples:
        lines.append("Sample errors (masked):")
        lines += [f"- {text}" + (f" (x{n})" if n > 1 else "") for text, n in samples]
    return "\n".join(lines)


def summary_message(rows: Sequence[monitors.BlockStats], top: int, hours: float) -> str:
    """The daily summary: the top blocks by errors, or a "no errors" line."""
    failing = sorted((r for r in rows if r.errors), key=lambda r: (-r.errors, r.block_id))[:top]
    if not failing:
        return NO_ERRORS.format(hours=hours)
    lines = [f"Top blocks by errors in the last {hours:g} h (none over the alert threshold):"]
    lines += [f"- {r.block_id}: {r.errors} of {r.executions} failed ({r.error_rate:.0%})"
              for r in failing]
    return "\n".join(lines)


def run_once(session: Session, now: datetime, ctx: JobContext) -> BlockErrorsReport:
    """Compute per-block error rates over the window and alert or summarise."""
    s = ctx.settings
    since = now - timedelta(seconds=s.block_error_window_s)
    hours = s.block_error_window_s / 3600
    rows = monitors.block_stats(session, since, now)
    bad = over_threshold(rows, s.block_error_min_executions, s.block_error_rate_threshold)
    report = BlockErrorsReport(blocks=len(rows), alerting=[r.block_id for r in bad])
    messages = []
    for row in bad:
        errors = monitors.block_errors(session, row.block_id, since, now, SAMPLE_SCAN)
        messages.append((row, alert_message(row, group(errors, s.block_error_samples), hours)))
    firing = set(alert_store.firing_fingerprints(session, KIND))
    session.commit()
    if bad:
        report.message = "\n\n".join(m for _, m in messages)
    else:
        report.message = summary_message(rows, s.block_error_top, hours)
    if ctx.alerts is None:
        return report
    for row, text in messages:
        ctx.alerts.fire(session, now, kind=KIND, fingerprint=row.block_id, message=text,
                        tag="ops")
    for block_id in sorted(firing - set(report.alerting)):
        ctx.alerts.resolve(session, now, kind=KIND, fingerprint=block_id,
                           message=f"Block {block_id} is back under the error-rate threshold.")
        report.resolved.append(block_id)
    if not bad:
        send_notice(ctx.alerts, session, now, kind=SUMMARY_KIND,
                    fingerprint=now.date().isoformat(), message=report.message, tag="ops")
    return report


SWEEP = JobSpec(
    name="block_errors",
    description="alert on blocks whose error rate is over the threshold, else summarise",
    cron_setting="cron_block_errors",
    run_once=run_once,
)
