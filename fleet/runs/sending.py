"""The one way a run reaches the broker: send, then record that it was sent.

Every path that sends or re-sends a queued run (submit, the dispatcher,
run-now, resume, the re-send sweep, the reaper, stale runtimes, a worker's
heartbeat and graceful shutdown, ``fleet dev``'s pickup) calls
:func:`send_and_record`. It holds no transaction while it talks to the
broker, stops at the first refusal (the broker is down: the rest wait for
the re-send sweep), and records ``last_sent_at`` of what went out.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import Session

from fleet.ports import BatchSender, RunSender
from fleet.store import runs as store
from fleet.store.db import begin_write

log = logging.getLogger(__name__)


@dataclass
class Sent:
    """What one send pass did."""

    sent: list[str] = field(default_factory=list)
    unsent: list[str] = field(default_factory=list)  # left queued for the re-send sweep
    error: str | None = None  # why the broker refused, when it did


def send_and_record(session: Session, run_ids: Sequence[str], now: datetime,
                    send: RunSender, *, what: str = "run",
                    send_many: BatchSender | None = None, recorded: bool = False) -> Sent:
    """Send ``run_ids`` in order and record the ones that went; commits.

    Commits anything pending on ``session`` first, so that no row lock (or
    SQLite write lock) is held while the broker is slow. A refusal stops the
    pass: the rest stay queued and unsent, and the re-send sweep sends them.

    ``recorded``: the rows were born recorded as sent (``create_many(...,
    sending=True)``), so only a refusal is written: the unsent ones are marked
    unsent again, and the re-send sweep takes them after ``resend_unsent_after_s``.
    (Should the process die between its commit and the send, they look sent and
    the re-send sweep takes them after ``resend_after_s`` instead.)
    """
    result = Sent()
    if session.in_transaction():
        session.commit()
    if send_many is not None and len(run_ids) > 1:
        try:
            send_many(run_ids)  # one broker round trip for the whole batch
            result.sent = list(run_ids)
        except Exception as exc:  # the broker is down: the whole batch waits for re-send
            result.error = f"{type(exc).__name__}: {exc}"
            result.unsent = list(run_ids)
            log.warning("%d %ss are queued but could not be sent (%s); the re-send sweep "
                        "will send them", len(run_ids), what, type(exc).__name__)
        run_ids = []
    for i, run_id in enumerate(run_ids):
        try:
            send(run_id)
        except Exception as exc:  # the broker is down or refused: keep the rest for later
            result.error = f"{type(exc).__name__}: {exc}"
            result.unsent = list(run_ids[i:])
            log.warning("%s %s is queued but could not be sent (%s); %d left for the re-send "
                        "sweep", what, run_id, type(exc).__name__, len(result.unsent))
            break
        result.sent.append(run_id)
    if recorded:
        if result.unsent:
            begin_write(session, "record unsent runs")
            store.mark_unsent(session, result.unsent, now)
            session.commit()
    elif result.sent:
        begin_write(session, "record sent runs")
        store.mark_sent(session, result.sent, now)
        session.commit()
    return result
