"""Alert delivery (SPEC §8, §10): send every notification delivery that is due.

Retries of a failed destination do not wait for some other alert to fire:
this job sends what is due every minute.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from fleet.ports import DeliveryPort, JobContext, JobSpec, Report


@dataclass
class AlertDeliveryReport(Report):
    """What one delivery pass did."""

    delivered: int = 0
    failed: int = 0
    gave_up: int = 0
    configured: bool = True

    def summary(self) -> str:
        """One line for logs and the CLI."""
        if not self.configured:
            return "alert_delivery: no alert port configured"
        return (f"alert_delivery: delivered {self.delivered}, failed {self.failed} (retried "
                f"later), given up {self.gave_up}")


def run_once(session: Session, now: datetime, ctx: JobContext) -> AlertDeliveryReport:
    """Deliver what is due through the context's alert port."""
    if not isinstance(ctx.alerts, DeliveryPort):
        return AlertDeliveryReport(configured=False)
    result = ctx.alerts.deliver(session, now)
    return AlertDeliveryReport(delivered=result.delivered, failed=result.failed,
                               gave_up=result.gave_up)


SWEEP = JobSpec(
    name="alert_delivery",
    description="send alert notifications that are due, retrying failed destinations alone",
    cron_setting="cron_alert_delivery",
    run_once=run_once,
)
