"""Reading alerts for the API and dashboard: incidents with their deliveries.

Ops and product alerts are about the fleet (an admin's to read); a user's own alerts
(tag ``user``) are theirs: ``user_id`` limits the answer to those (None: all).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from fleet.errors import InvalidInput
from fleet.store import observe
from fleet.store.models import Alert, AlertDelivery

STATES = ("firing", "resolved", "notice")


@dataclass
class AlertView:
    """One incident and its latest deliveries."""

    alert: Alert
    deliveries: list[AlertDelivery] = field(default_factory=list)


def list_alerts(session: Session, *, user_id: str | None, state: str | None = None,
                limit: int = 100) -> list[AlertView]:
    """Alerts visible to ``user_id``, most recently seen first, with their deliveries."""
    problems = []
    if state is not None and state not in STATES:
        problems.append(f"state: '{state}' is unknown; use one of {', '.join(STATES)}")
    if not 1 <= limit <= 500:
        problems.append(f"limit: must be 1-500, got {limit}")
    if problems:
        raise InvalidInput("invalid alert query", problems)
    rows = observe.alerts(session, state=state, user_id=user_id, limit=limit)
    found = observe.deliveries(session, [a.id for a in rows])
    session.commit()
    return [AlertView(a, found.get(a.id, [])) for a in rows]
