"""Queries on alerts and notification settings. Nothing here commits.

Deduplication lives in the database: an alert row is unique by
``(kind, fingerprint)``, and every "send this now" decision is a conditional
UPDATE that only one process can win, so two scheduler processes never queue
the same notification twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, case, delete, literal, or_, select, update
from sqlmodel import Session, col

from fleet.store.db import upsert_insert
from fleet.store.models import Alert, NotificationSetting
from fleet.store.types import UTCDateTime, new_id

FIRING, RESOLVED, NOTICE = "firing", "resolved", "notice"


def ensure(session: Session, now: datetime, *, kind: str, fingerprint: str, message: str,
           tag: str, user_id: str | None, state: str = FIRING) -> bool:
    """Insert the alert row unless it exists; True when this call inserted it."""
    stmt = (
        upsert_insert(session, Alert)
        .values(id=new_id(), kind=kind, fingerprint=fingerprint, tag=tag, user_id=user_id,
                state=state, message=message, first_seen_at=now, last_seen_at=now,
                send_count=0, pending_delivery=False)
        .on_conflict_do_nothing(index_elements=["kind", "fingerprint"])
        .returning(col(Alert.id))
    )
    return session.execute(stmt).first() is not None


def get(session: Session, kind: str, fingerprint: str) -> Alert | None:
    """The alert ``(kind, fingerprint)``, freshly read, or None."""
    stmt = select(Alert).where(col(Alert.kind) == kind, col(Alert.fingerprint) == fingerprint)
    return session.execute(stmt.execution_options(populate_existing=True)).scalars().first()


def claim_fire(session: Session, now: datetime, *, kind: str, fingerprint: str, message: str,
               tag: str, user_id: str | None, reminder_s: float) -> bool:
    """Queue a delivery of the firing alert unless one was queued within ``reminder_s``.

    A resolved alert that fires again is a new incident and is queued at once.
    The condition sits inside the UPDATE, so of two concurrent callers only
    one wins (PostgreSQL re-checks it after the row lock; SQLite serializes).
    Always refreshes ``last_seen_at`` and the message.
    """
    due = or_(col(Alert.state) != FIRING, col(Alert.last_sent_at).is_(None),
              col(Alert.last_sent_at) <= now - timedelta(seconds=reminder_s))
    key = and_(col(Alert.kind) == kind, col(Alert.fingerprint) == fingerprint)
    claimed = session.execute(
        update(Alert).where(key, due)
        .values(state=FIRING, message=message, tag=tag, user_id=user_id, last_seen_at=now,
                # a resolved alert firing again starts a new incident
                first_seen_at=case((col(Alert.state) != FIRING, literal(now, UTCDateTime())),
                                   else_=col(Alert.first_seen_at)),
                last_sent_at=now, resolved_at=None, resolved_message=None,
                send_count=col(Alert.send_count) + 1, pending_delivery=True,
                next_attempt_at=None)
        .returning(col(Alert.id))
    ).first()
    if claimed is None:
        session.execute(update(Alert).where(key, col(Alert.state) == FIRING)
                        .values(last_seen_at=now, message=message))
    return claimed is not None


def claim_resolve(session: Session, now: datetime, *, kind: str, message: str,
                  fingerprint: str | None = None) -> list[str]:
    """Mark firing alerts of ``kind`` (one fingerprint or all) resolved and queue the note.

    Returns the fingerprints this call resolved (a concurrent caller gets none).
    """
    conds = [col(Alert.kind) == kind, col(Alert.state) == FIRING]
    if fingerprint is not None:
        conds.append(col(Alert.fingerprint) == fingerprint)
    stmt = (update(Alert).where(*conds)
            .values(state=RESOLVED, resolved_at=now, resolved_message=message,
                    send_count=col(Alert.send_count) + 1, pending_delivery=True,
                    next_attempt_at=None)
            .returning(col(Alert.fingerprint)))
    return list(session.execute(stmt).scalars().all())


def supersede(session: Session, now: datetime, *, kind: str, keep: str) -> list[str]:
    """Quietly close firing alerts of ``kind`` other than fingerprint ``keep``.

    For monitors whose fingerprint names the whole current set (late
    executions): a changed set replaces the old incident without a resolved
    note. Returns the fingerprints closed.
    """
    stmt = (update(Alert)
            .where(col(Alert.kind) == kind, col(Alert.state) == FIRING,
                   col(Alert.fingerprint) != keep)
            .values(state=RESOLVED, resolved_at=now, pending_delivery=False,
                    resolved_message="superseded by a newer incident of the same kind")
            .returning(col(Alert.fingerprint)))
    return list(session.execute(stmt).scalars().all())


def claim_notice(session: Session, now: datetime, *, kind: str, fingerprint: str,
                 message: str, tag: str, user_id: str | None) -> bool:
    """Record a one-off notice (a summary); True only for the caller that recorded it."""
    if not ensure(session, now, kind=kind, fingerprint=fingerprint, message=message, tag=tag,
                  user_id=user_id, state=NOTICE):
        return False
    session.execute(update(Alert)
                    .where(col(Alert.kind) == kind, col(Alert.fingerprint) == fingerprint)
                    .values(last_sent_at=now, send_count=1, pending_delivery=True))
    return True


def claim_deliveries(session: Session, now: datetime, *, claim_s: float,
                     limit: int = 50) -> list[Alert]:
    """Take up to ``limit`` pending deliveries due at ``now`` for this process.

    The claim pushes ``next_attempt_at`` out by ``claim_s`` in a conditional
    UPDATE, so a concurrent caller cannot take the same rows; a process that
    dies mid-send leaves them to be retried after the claim lapses.
    """
    due = and_(col(Alert.pending_delivery).is_(True),
               or_(col(Alert.next_attempt_at).is_(None), col(Alert.next_attempt_at) <= now))
    candidates = (select(col(Alert.id)).where(due)
                  .order_by(col(Alert.last_seen_at)).limit(limit).scalar_subquery())
    stmt = (update(Alert).where(col(Alert.id).in_(candidates), due)
            .values(next_attempt_at=now + timedelta(seconds=claim_s))
            .returning(Alert))
    return list(session.execute(stmt.execution_options(populate_existing=True))
                .scalars().all())


def record_delivery(session: Session, alert_id: str, send_count: int, *, ok: bool | None,
                    result: str, retry_at: datetime | None) -> bool:
    """Write a delivery's outcome; a failure (``retry_at`` set) stays pending.

    Fenced by ``send_count``: if a newer notification was queued meanwhile,
    it stays pending and only the result text is kept.
    """
    done = retry_at is None
    stmt = (update(Alert)
            .where(col(Alert.id) == alert_id, col(Alert.send_count) == send_count)
            .values(delivery_ok=ok, delivery_result=result[:2000],
                    pending_delivery=not done, next_attempt_at=retry_at)
            .returning(col(Alert.id)))
    return session.execute(stmt).first() is not None


def list_alerts(session: Session, *, state: str | None = None, kind: str | None = None,
                limit: int = 100) -> list[Alert]:
    """Alerts, most recently seen first."""
    stmt = select(Alert)
    if state is not None:
        stmt = stmt.where(col(Alert.state) == state)
    if kind is not None:
        stmt = stmt.where(col(Alert.kind) == kind)
    stmt = stmt.order_by(col(Alert.last_seen_at).desc(), col(Alert.id)).limit(limit)
    return list(session.execute(stmt).scalars().all())


def firing_fingerprints(session: Session, kind: str) -> list[str]:
    """Fingerprints of the firing alerts of ``kind``."""
    stmt = select(col(Alert.fingerprint)).where(col(Alert.kind) == kind,
                                                col(Alert.state) == FIRING)
    return list(session.execute(stmt).scalars().all())


def prune(session: Session, before: datetime, limit: int) -> int:
    """Delete resolved alerts and notices last seen before ``before`` (one batch)."""
    ids = select(col(Alert.id)).where(col(Alert.state).in_([RESOLVED, NOTICE]),
                                      col(Alert.pending_delivery).is_(False),
                                      col(Alert.last_seen_at) < before).limit(limit)
    found = list(session.execute(ids).scalars().all())
    if not found:
        return 0
    session.execute(delete(Alert).where(col(Alert.id).in_(found)))
    return len(found)


# --- per-user notification settings -----------------------------------------


def get_notification(session: Session, user_id: str) -> NotificationSetting | None:
    """The user's notification settings, or None."""
    return session.get(NotificationSetting, user_id, populate_existing=True)


def set_notification(session: Session, user_id: str, now: datetime, *,
                     urls: Sequence[str] | None = None,
                     weekly_summary: bool | None = None) -> NotificationSetting:
    """Create or update the user's settings (only the given fields change)."""
    row = get_notification(session, user_id)
    if row is None:
        row = NotificationSetting(user_id=user_id, urls=list(urls or []),
                                  weekly_summary=True if weekly_summary is None
                                  else weekly_summary, updated_at=now)
        session.add(row)
    else:
        if urls is not None:
            row.urls = list(urls)
        if weekly_summary is not None:
            row.weekly_summary = weekly_summary
        row.updated_at = now
    session.flush()
    return row


def clear_notification(session: Session, user_id: str) -> bool:
    """Delete the user's settings; True when there were any."""
    result = session.execute(delete(NotificationSetting)
                             .where(col(NotificationSetting.user_id) == user_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]
