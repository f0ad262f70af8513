"""The alert service: record, deduplicate, remind, resolve, and deliver per destination.

Every alert is a row unique by ``(kind, fingerprint)``: one incident per
condition. ``fire`` queues a notification only when the incident is new, was
resolved, or was last notified more than ``alert_reminder_s`` ago; ``resolve``
queues one "resolved" note. The queueing decisions are conditional UPDATEs, so
two scheduler processes never queue the same notification twice.

A queued notification fans out to one delivery row per destination URL. Each
delivery is claimed, sent and recorded on its own: a destination that fails
is retried alone with capped exponential backoff (``alert_retry_s`` doubling
up to ``alert_retry_max_s``) and given up after ``alert_give_up_s`` (a log
line and a counted state), so a dead URL never makes a working channel receive
the same notification twice. Deliveries go out at once when an alert is
queued, and the ``alert_delivery`` system job sends whatever is due every
minute. ``last_sent_at`` is the last successful send.

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
from fleet.redact import describe_urls, install, redact
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
    failed: int = 0  # attempts that failed and will be retried
    gave_up: int = 0  # destinations given up on


def _check_tag(tag: str, user_id: str | None) -> None:
    problems = []
    if tag not in TAGS:
        problems.append(f"unknown alert tag '{tag}'; use one of {', '.join(TAGS)}")
    if tag == "user" and not user_id:
        problems.append("tag 'user' needs a user_id")
    if problems:
        raise InvalidInput("invalid alert destination", problems)


def _title(alert: Alert, now: datetime) -> str:
    if alert.state == store.RESOLVED:
        return f"[fleet] RESOLVED: {alert.kind}"
    if alert.state == store.NOTICE:
        return f"[fleet] {alert.kind}"
    reminder = alert.first_seen_at < now  # the incident began before this notification
    return f"[fleet] {'REMINDER' if reminder else 'FIRING'}: {alert.kind}"


def _body(alert: Alert) -> str:
    if alert.state == store.RESOLVED:
        return alert.resolved_message or f"{alert.kind} cleared"
    return alert.message


class AlertService:
    """The alert and notice ports of :mod:`fleet.ports`, and delivery."""

    def __init__(self, *, channel: Channel, reminder_s: float = 3600.0,
                 urls: dict[str, list[str]] | None = None, retry_s: float = 30.0,
                 retry_max_s: float = 3600.0, give_up_s: float = 86_400.0,
                 claim_s: float = 60.0, sentry: SentryHook | None = None) -> None:
        install()
        self.channel = channel
        self.reminder_s = reminder_s
        self.urls = {k: list(v) for k, v in (urls or {}).items()}
        self.retry_s = retry_s
        self.retry_max_s = retry_max_s
        self.give_up_s = give_up_s
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
            retry_max_s=settings.alert_retry_max_s,
            give_up_s=settings.alert_give_up_s,
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
        alert = store.claim_fire(session, now, kind=kind, fingerprint=fingerprint,
                                 message=message, tag=tag, user_id=user_id,
                                 reminder_s=self.reminder_s)
        if alert is not None:
            self._fan_out(session, alert, now)
        session.commit()
        if alert is not None:
            log.warning("alert %s [%s] firing: %s", kind, fingerprint, redact(message))
            self._sentry(f"{kind} firing", message)
        return self._finish(session, now, FireResult(kind, [fingerprint], alert is not None))

    def resolve(self, session: Session, now: datetime, *, kind: str, message: str,
                fingerprint: str | None = None) -> FireResult:
        """Resolve the firing alerts of ``kind`` (one fingerprint or all), queueing a note."""
        session.commit()
        done = store.claim_resolve(session, now, kind=kind, message=message,
                                   fingerprint=fingerprint)
        for alert in done:
            self._fan_out(session, alert, now)
        session.commit()
        for alert in done:
            log.warning("alert %s [%s] resolved: %s", kind, alert.fingerprint, redact(message))
        return self._finish(session, now, FireResult(kind, [a.fingerprint for a in done],
                                                     bool(done)))

    # --- notices and delivery -------------------------------------------------

    def notify(self, session: Session, now: datetime, *, kind: str, fingerprint: str,
               message: str, tag: str = "ops", user_id: str | None = None) -> FireResult:
        """Record and deliver a one-off notice, once per ``(kind, fingerprint)``."""
        _check_tag(tag, user_id)
        session.commit()
        alert = store.claim_notice(session, now, kind=kind, fingerprint=fingerprint,
                                   message=message, tag=tag, user_id=user_id)
        if alert is not None:
            self._fan_out(session, alert, now)
        session.commit()
        if alert is not None:
            log.info("notice %s [%s]: %s", kind, fingerprint, redact(message))
        return self._finish(session, now, FireResult(kind, [fingerprint], alert is not None))

    def deliver(self, session: Session, now: datetime) -> DeliveryReport:
        """Send every delivery that is due (the ``alert_delivery`` job calls this)."""
        return self.deliver_pending(session, now)

    def deliver_pending(self, session: Session, now: datetime, limit: int = 50) -> DeliveryReport:
        """Send the due deliveries, one destination at a time, recording each outcome."""
        report = DeliveryReport()
        session.commit()
        claimed = store.claim_due_deliveries(session, now, claim_s=self.claim_s, limit=limit)
        session.commit()
        for delivery in claimed:
            result = self._send([delivery.url], delivery.title, delivery.body)
            detail = redact(result.detail)
            if result.ok:
                store.delivery_done(session, delivery, now, ok=True, result=detail)
                report.delivered += 1
            elif (now - delivery.created_at).total_seconds() >= self.give_up_s:
                store.delivery_done(session, delivery, now, ok=False, result=detail,
                                    gave_up=True)
                report.gave_up += 1
                log.error("alert delivery to %s given up after %d attempts over %.0fs: %s",
                          describe_urls([delivery.url]), delivery.attempts + 1,
                          (now - delivery.created_at).total_seconds(), detail)
            else:
                wait = min(self.retry_s * 2 ** delivery.attempts, self.retry_max_s)
                store.delivery_done(session, delivery, now, ok=False, result=detail,
                                    retry_at=now + timedelta(seconds=wait))
                report.failed += 1
                log.warning("alert delivery to %s failed (attempt %d; next in %.0fs): %s",
                            describe_urls([delivery.url]), delivery.attempts + 1, wait, detail)
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

    def _fan_out(self, session: Session, alert: Alert, now: datetime) -> None:
        """One delivery per destination of the notification just queued on ``alert``."""
        urls = self.destinations(session, alert.tag, alert.user_id)
        if not urls:
            log.warning("alert %s [%s] has no %s notification URL configured; logged only: %s",
                        alert.kind, alert.fingerprint, alert.tag, redact(_body(alert)))
            store.record_logged_only(session, alert.id,
                                     f"no '{alert.tag}' URL configured; logged only")
            return
        store.add_deliveries(session, alert, urls, title=_title(alert, now), body=_body(alert),
                             now=now)

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
