"""Helpers for jobs that send summaries through whatever alert port they were given."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from fleet.ports import AlertPort, NoticePort
from fleet.redact import redact

log = logging.getLogger(__name__)


def send_notice(alerts: AlertPort | None, session: Session, now: datetime, *, kind: str,
                fingerprint: str, message: str, tag: str = "ops",
                user_id: str | None = None) -> bool:
    """Send a one-off notice once per ``(kind, fingerprint)``; False when there is no port.

    Ports without notices (a bare :class:`AlertPort`) get a firing alert,
    which is deduplicated by the same fingerprint.
    """
    if alerts is None:
        log.info("notice %s [%s] (no alert port configured): %s", kind, fingerprint,
                 redact(message))
        return False
    if isinstance(alerts, NoticePort):
        alerts.notify(session, now, kind=kind, fingerprint=fingerprint, message=message,
                      tag=tag, user_id=user_id)
    else:
        alerts.fire(session, now, kind=kind, fingerprint=fingerprint, message=message,
                    tag=tag, user_id=user_id)
    return True
