"""The alert service: record, deduplicate, remind, resolve and deliver.

Every alert is a row unique by ``(kind, fingerprint)``. ``fire`` queues a
delivery only when the incident is new, was resolved, or was last sent more
than ``alert_reminder_s`` ago; ``resolve`` queues one "resolved" note. The
queueing decisions are conditional UPDATEs, so two scheduler processes never
queue the same notification twice, and deliveries are claimed the same way
before they are sent. A failed delivery stays pending and is retried by the
next ``deliver_pending`` (every ``fire`` and ``resolve`` runs one).

The public methods commit: call them after the job's own changes are committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.alerts.channels import AppriseChannel, Channel, Delivery
from fleet.errors import InvalidInput
from fleet.redact import install, redact
from fleet.settings import Settings
from fleet.store import alerts as store
from fleet.store.models import Alert

log = logging.getLogger(__name__)

TAGS: tuple[str, ...] = ("ops", "product", "user")
SentryHook = Callable[[str, str], None]  # (title, body)


@dataclass
class FireResult:
    """What ``fire`` / ``resolve`` / ``notify`` did."""

    kind: str
    fingerprints: list[str] = field(default_factory=list)
    queued: bool = False  # a notification was queued by this call
    delivered: int = 0  # deliveries made by the delivery pass this call ran
    failed: int = 0


@dataclass
class DeliveryReport:
    """What one ``deliver_pending`` pass did."""

    delivered: int = 0
    failed: int = 0
    logged_only: int = 0


def _check_tag(tag: str, user_id: str | None) -> None:
    problems = []
    if tag not in TAGS:
        problems.append(f"unknown alert tag '{tag}'; use one of {', '.join(TAGS)}")
    if tag == "user" and not user_id:
        problems.append("tag 'user' needs a user_id")
    if problems:
        raise InvalidInput("invalid alert destination", problems)


def _title(alert: Alert) -> str:
    if alert.state == store.RESOLVED:
        return f"[fleet] RESOLVED: {alert.kind}"
    if alert.state == store.NOTICE:
        return f"[fleet] {alert.kind}"
    reminder = alert.last_sent_at is not None and alert.last_sent_at > alert.first_seen_at
    return f"[fleet] {'REMINDER' if reminder else 'FIRING'}: {alert.kind}"


def _body(alert: Alert) -> str:
    if alert.state == store.RESOLVED:
        return alert.resolved_message or f"{alert.kind} cleared"
    return alert.message


class AlertService:
    """The alert and notice ports of :mod:`fleet.ports`, and delivery."""

    def __init__(self, *, channel: Channel, reminder_s: float = 3600.0,
                 urls: dict[str, list[str]] | None = None, retry_s: float = 30.0,
                 claim_s: float = 60.0, sentry: SentryHook | None = None) -> None:
        install()
        self.channel = channel
        self.reminder_s = reminder_s
        self.urls = {k: list(v) for k, v in (urls or {}).items()}
        self.retry_s = retry_s
        self.claim_s = claim_s
        self.sentry = sentry

    @classmethod
    def from_settings(cls, settings: Settings, channel: Channel | None = None) -> AlertService:
        """The service for ``settings``: Apprise, the tag URLs, Sentry only with a DSN."""
        return cls(
            channel=channel or AppriseChannel(timeout_s=settings.alert_timeout_s),
            reminder_s=settings.alert_reminder_s,
            urls={"ops": list(settings.alert_urls_ops),
                  "product": list(settings.alert_urls_product)},
            retry_s=settings.alert_retry_s,
            claim_s=settings.alert_claim_s,
            sentry=sentry_hook(settings.sentry_dsn),
        )

    # --- the AlertPort --------------------------------------------------------

    def fire(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
             message: str, tag: str = "ops", user_id: str | None = None) -> FireResult:
        """Record the firing incident; queue a delivery if new, re-fired or reminder-due."""
        _check_tag(tag, user_id)
        session.commit()
        store.ensure(session, now, kind=kind, fingerprint=fingerprint, message=message,
                     tag=tag, user_id=user_id)
        queued = store.claim_fire(session, now, kind=kind, fingerprint=fingerprint,
                                  message=message, tag=tag, user_id=user_id,
                                  reminder_s=self.reminder_s)
        session.commit()
        if queued:
            log.warning("alert %s [%s] firing: %s", kind, fingerprint, redact(message))
            self._sentry(f"{kind} firing", message)
        return self._finish(session, now, FireResult(kind, [fingerprint], queued))

    def resolve(self, session: Session, now: datetime, *, kind: str, message: str,
                fingerprint: str | None = None) -> FireResult:
        """Resolve the firing alerts of ``kind`` (one fingerprint or all), queueing a note."""
        session.commit()
        done = store.claim_resolve(session, now, kind=kind, message=message,
                                   fingerprint=fingerprint)
        session.commit()
        for fp in done:
            log.warning("alert %s [%s] resolved: %s", kind, fp, redact(message))
        return self._finish(session, now, FireResult(kind, done, bool(done)))

    # --- notices and delivery -------------------------------------------------

    def notify(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
               message: str, tag: str = "ops", user_id: str | None = None) -> FireResult:
        """Record and deliver a one-off notice, once per ``(kind, fingerprint)``."""
        _check_tag(tag, user_id)
        session.commit()
        queued = store.claim_notice(session, now, kind=kind, fingerprint=fingerprint,
                                    message=message, tag=tag, user_id=user_id)
        session.commit()
        if queued:
            log.info("notice %s [%s]: %s", kind, fingerprint, redact(message))
        return self._finish(session, now, FireResult(kind, [fingerprint], queued))

    def supersede(self, session: Session, now: datetime, *, kind: str, keep: str) -> list[str]:
        """Quietly close other firing incidents of ``kind`` (a changed set replaces them)."""
        session.commit()
        closed = store.supersede(session, now, kind=kind, keep=keep)
        session.commit()
        return closed

    def deliver_pending(self, session: Session, now: datetime, limit: int = 50) -> DeliveryReport:
        """Send every queued notification that is due, recording each outcome.

        Failures stay queued and are retried after ``retry_s`` (the next tick).
        """
        report = DeliveryReport()
        session.commit()
        claimed = store.claim_deliveries(session, now, claim_s=self.claim_s, limit=limit)
        session.commit()
        for alert in claimed:
            urls = self.destinations(session, alert.tag, alert.user_id)
            session.commit()
            if not urls:
                log.warning("alert %s [%s] has no %s notification URL configured; logged only: "
                            "%s", alert.kind, alert.fingerprint, alert.tag,
                            redact(_body(alert)))
                store.record_delivery(session, alert.id, alert.send_count, ok=None,
                                      result=f"no '{alert.tag}' URL configured; logged only",
                                      retry_at=None)
                report.logged_only += 1
            else:
                result = self._send(urls, _title(alert), _body(alert))
                retry = None if result.ok else now + timedelta(seconds=self.retry_s)
                store.record_delivery(session, alert.id, alert.send_count, ok=result.ok,
                                      result=redact(result.detail), retry_at=retry)
                if result.ok:
                    report.delivered += 1
                else:
                    report.failed += 1
                    log.warning("alert %s [%s] delivery failed (retrying after %gs): %s",
                                alert.kind, alert.fingerprint, self.retry_s,
                                redact(result.detail))
            session.commit()
        return report

    def test(self, tag: str = "ops", *, session: Session | None = None,
             user_id: str | None = None) -> Delivery:
        """Send a test notification to the destinations of ``tag`` (not recorded)."""
        _check_tag(tag, user_id)
        urls = self.destinations(session, tag, user_id)
        if not urls:
            return Delivery(False, f"no '{tag}' notification URL is configured"
                            + (f" for user {user_id}" if user_id else ""))
        return self._send(urls, "[fleet] test notification",
                          f"This is a test of fleet's '{tag}' alert destination.")

    def destinations(self, session: Session | None, tag: str,
                     user_id: str | None) -> list[str]:
        """The URLs of ``tag``; for ``user``, the user's own notification URLs."""
        if tag == "user":
            if session is None or user_id is None:
                return []
            setting = store.get_notification(session, user_id)
            return list(setting.urls) if setting else []
        return list(self.urls.get(tag, []))

    # --- internals ------------------------------------------------------------

    def _send(self, urls: Sequence[str], title: str, body: str) -> Delivery:
        try:
            return self.channel.send(urls, title, body)
        except Exception as exc:  # a channel must never break the sweep
            return Delivery(False, redact(f"{type(exc).__name__}: {exc}"))

    def _finish(self, session: Session, now: datetime, result: FireResult) -> FireResult:
        delivery = self.deliver_pending(session, now)
        result.delivered, result.failed = delivery.delivered, delivery.failed
        return result

    def _sentry(self, title: str, body: str) -> None:
        if self.sentry is None:
            return
        try:
            self.sentry(title, body)
        except Exception:
            log.warning("Sentry capture failed for %s", title)


def sentry_hook(dsn: str | None) -> SentryHook | None:
    """A Sentry capture function when a DSN is configured (and sentry-sdk installed)."""
    if not dsn:
        return None
    try:
        import sentry_sdk  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        log.warning("FLEET_SENTRY_DSN is set but sentry-sdk is not installed; "
                    "install fleet[sentry] to capture alerts in Sentry")
        return None
    sentry_sdk.init(dsn=dsn)

    def capture(title: str, body: str) -> None:
        sentry_sdk.capture_message(f"{title}: {redact(body)}", level="warning")

    return capture
