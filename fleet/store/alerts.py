"""Queries on alerts and notification settings. Nothing here commits.

Deduplication lives in the database: an alert row is unique by
``(kind, fingerprint)``, and every "send this now" decision is a conditional
UPDATE that only one process can win, so two scheduler processes never queue
the same notification twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, literal, or_, select, update
from sqlmodel import Session, col

from fleet.store.db import upsert_insert
from fleet.store.models import Alert, AlertDelivery, NotificationSetting
from fleet.store.types import UTCDateTime, new_id

FIRING, RESOLVED, NOTICE = "firing", "resolved", "notice"
PENDING, SENT, GAVE_UP = "pending", "sent", "gave_up"  # the states of a delivery


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
               tag: str, user_id: str | None, reminder_s: float) -> Alert | None:
    """Queue a notification of the firing alert unless one was queued within ``reminder_s``.

    A resolved alert that fires again is a new incident and is queued at once.
    The condition sits inside the UPDATE, so of two concurrent callers only
    one wins (PostgreSQL re-checks it after the row lock; SQLite serializes).
    Always refreshes ``last_seen_at`` and the message. Returns the alert when
    this call queued a notification (``send_count`` names it), else None.
    """
    due = or_(col(Alert.state) != FIRING, col(Alert.last_queued_at).is_(None),
              col(Alert.last_queued_at) <= now - timedelta(seconds=reminder_s))
    key = and_(col(Alert.kind) == kind, col(Alert.fingerprint) == fingerprint)
    claimed = session.execute(
        update(Alert).where(key, due)
        .values(state=FIRING, message=message, tag=tag, user_id=user_id, last_seen_at=now,
                # a resolved alert firing again starts a new incident
                first_seen_at=case((col(Alert.state) != FIRING, literal(now, UTCDateTime())),
                                   else_=col(Alert.first_seen_at)),
                last_queued_at=now, resolved_at=None, resolved_message=None,
                send_count=col(Alert.send_count) + 1, pending_delivery=True)
        .returning(Alert).execution_options(populate_existing=True)
    ).scalars().first()
    if claimed is None:
        session.execute(update(Alert).where(key, col(Alert.state) == FIRING)
                        .values(last_seen_at=now, message=message))
    return claimed


def claim_resolve(session: Session, now: datetime, *, kind: str, message: str,
                  fingerprint: str | None = None) -> list[Alert]:
    """Mark firing alerts of ``kind`` (one fingerprint or all) resolved, queueing the note.

    Returns the alerts this call resolved (a concurrent caller gets none).
    """
    conds = [col(Alert.kind) == kind, col(Alert.state) == FIRING]
    if fingerprint is not None:
        conds.append(col(Alert.fingerprint) == fingerprint)
    stmt = (update(Alert).where(*conds)
            .values(state=RESOLVED, resolved_at=now, resolved_message=message,
                    last_queued_at=now, send_count=col(Alert.send_count) + 1,
                    pending_delivery=True)
            .returning(Alert).execution_options(populate_existing=True))
    return list(session.execute(stmt).scalars().all())


def claim_notice(session: Session, now: datetime, *, kind: str, fingerprint: str,
                 message: str, tag: str, user_id: str | None) -> Alert | None:
    """Record a one-off notice (a summary); the alert only for the caller that recorded it."""
    if not ensure(session, now, kind=kind, fingerprint=fingerprint, message=message, tag=tag,
                  user_id=user_id, state=NOTICE):
        return None
    stmt = (update(Alert).where(col(Alert.kind) == kind, col(Alert.fingerprint) == fingerprint)
            .values(last_queued_at=now, send_count=1, pending_delivery=True)
            .returning(Alert).execution_options(populate_existing=True))
    return session.execute(stmt).scalars().first()


def record_logged_only(session: Session, alert_id: str, result: str) -> None:
    """A notification with no destination: logged only, nothing pending."""
    session.execute(update(Alert).where(col(Alert.id) == alert_id)
                    .values(pending_delivery=False, delivery_ok=None, delivery_result=result))


# --- deliveries: one row per (notification, destination) -------------------


def destination_key(url: str) -> str:
    """A stable name for a destination that does not reveal its URL (URLs carry tokens)."""
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def add_deliveries(session: Session, alert: Alert, urls: Sequence[str], *, title: str,
                   body: str, now: datetime) -> int:
    """One pending delivery per destination of notification ``alert.send_count``."""
    rows = [{"id": new_id(), "alert_id": alert.id, "send_count": alert.send_count,
             "destination": destination_key(u), "url": u, "title": title, "body": body,
             "state": PENDING, "attempts": 0, "created_at": now} for u in dict.fromkeys(urls)]
    if rows:
        session.execute(upsert_insert(session, AlertDelivery).on_conflict_do_nothing(
            index_elements=["alert_id", "send_count", "destination"]), rows)
    return len(rows)


def claim_due_deliveries(session: Session, now: datetime, *, claim_s: float,
                         limit: int = 50) -> list[AlertDelivery]:
    """Take up to ``limit`` pending deliveries due at ``now`` for this process.

    The claim pushes ``next_attempt_at`` out by ``claim_s`` in a conditional
    UPDATE, so a concurrent caller cannot take the same rows; a process that
    dies mid-send leaves them to be retried after the claim lapses.
    """
    due = and_(col(AlertDelivery.state) == PENDING,
               or_(col(AlertDelivery.next_attempt_at).is_(None),
                   col(AlertDelivery.next_attempt_at) <= now))
    candidates = (select(col(AlertDelivery.id)).where(due)
                  .order_by(col(AlertDelivery.created_at)).limit(limit).scalar_subquery())
    stmt = (update(AlertDelivery).where(col(AlertDelivery.id).in_(candidates), due)
            .values(next_attempt_at=now + timedelta(seconds=claim_s))
            .returning(AlertDelivery).execution_options(populate_existing=True))
    return list(session.execute(stmt).scalars().all())


def delivery_done(session: Session, delivery: AlertDelivery, now: datetime, *, ok: bool,
                  result: str, gave_up: bool = False,
                  retry_at: datetime | None = None) -> None:
    """Write one attempt's outcome on the delivery and summarise it on its alert.

    ``ok``: sent (the alert's ``last_sent_at`` becomes ``now``); otherwise pending
    again at ``retry_at``, or given up. The alert stays ``pending_delivery`` while
    any destination of its latest notification is pending.
    """
    state = SENT if ok else (GAVE_UP if gave_up else PENDING)
    session.execute(update(AlertDelivery).where(col(AlertDelivery.id) == delivery.id)
                    .values(state=state, attempts=col(AlertDelivery.attempts) + 1,
                            last_attempt_at=now, sent_at=now if ok else None,
                            next_attempt_at=None if state != PENDING else retry_at,
                            last_error=None if ok else result[:2000]))
    pending = session.execute(
        select(func.count()).select_from(AlertDelivery)
        .where(col(AlertDelivery.alert_id) == delivery.alert_id,
               col(AlertDelivery.state) == PENDING)).scalar_one()
    values: dict[str, Any] = {"delivery_ok": ok, "delivery_result": result[:2000],
                              "pending_delivery": bool(pending)}
    if ok:
        values["last_sent_at"] = now
    session.execute(update(Alert).where(col(Alert.id) == delivery.alert_id).values(**values))


def deliveries(session: Session, alert_id: str) -> list[AlertDelivery]:
    """Every delivery of an alert, oldest first."""
    stmt = (select(AlertDelivery).where(col(AlertDelivery.alert_id) == alert_id)
            .order_by(col(AlertDelivery.created_at), col(AlertDelivery.send_count)))
    return list(session.execute(stmt).scalars().all())


def delivery_counts(session: Session) -> dict[str, int]:
    """Deliveries by state (pending, sent, gave_up), and attempts that failed."""
    rows = session.execute(select(col(AlertDelivery.state), func.count(),
                                  func.coalesce(func.sum(col(AlertDelivery.attempts)), 0))
                           .group_by(col(AlertDelivery.state))).all()
    counts = {r[0]: int(r[1]) for r in rows}
    attempts = sum(int(r[2]) for r in rows)
    counts["failed_attempts"] = attempts - counts.get(SENT, 0)
    return counts


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
    """Delete resolved alerts and notices last seen before ``before``, with their deliveries
    (one batch); an alert with a delivery still pending stays."""
    ids = select(col(Alert.id)).where(col(Alert.state).in_([RESOLVED, NOTICE]),
                                      col(Alert.pending_delivery).is_(False),
                                      col(Alert.last_seen_at) < before).limit(limit)
    found = list(session.execute(ids).scalars().all())
    if not found:
        return 0
    session.execute(delete(AlertDelivery).where(col(AlertDelivery.alert_id).in_(found)))
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
