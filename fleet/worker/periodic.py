"""Periodic system jobs on Dramatiq: a scheduler that survives the broker, and stale messages.

- :class:`PeriodicActor`: periodiq's scheduler sends each due job with
  ``actor.send_with_options``; an exception there ends the ``periodiq``
  process. This actor class turns a broker outage into one WARNING per outage
  (and one line when it is over): the tick's jobs are not sent, the next tick
  tries again, the process lives on.
- :class:`StaleJobMiddleware`: replaces periodiq's middleware. A job message
  older than ``periodic_skip_after_s`` is skipped with a WARNING and counted
  (``system_jobs.skipped_total``), except the dispatcher: it is idempotent per
  (schedule, instant) and catches up on its own, so it always runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from dramatiq import Actor, Broker, Message
from dramatiq.errors import BrokerError
from dramatiq.middleware import SkipMessage
from periodiq import PeriodiqMiddleware

log = logging.getLogger(__name__)

NEVER_SKIPPED = frozenset({"sweep_dispatch"})

_outage = threading.Event()


class PeriodicActor(Actor):  # type: ignore[type-arg,unused-ignore]
    """An actor whose sends survive a broker outage (logged once per outage)."""

    def send_with_options(self, *args: Any, **kwargs: Any) -> Any:
        try:
            message = super().send_with_options(*args, **kwargs)
        except (redis.RedisError, BrokerError, OSError) as exc:
            if not _outage.is_set():
                _outage.set()
                log.warning("broker unreachable (%s); periodic jobs are not sent until it is "
                            "back, the scheduler keeps running", type(exc).__name__)
            return None
        if _outage.is_set():
            _outage.clear()
            log.warning("broker reachable again; periodic jobs are sent again")
        return message


def _age_s(scheduled_at: str) -> float:
    """Seconds since the ISO instant periodiq stamped on the message."""
    when = datetime.fromisoformat(scheduled_at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return (datetime.now(UTC) - when).total_seconds()


def job_name(actor_name: str) -> str:
    """The system job behind a periodic actor (``sweep_dispatch`` -> ``dispatch``)."""
    return actor_name.removeprefix("sweep_")


class StaleJobMiddleware(PeriodiqMiddleware):
    """Skip stale periodic messages loudly, never the dispatcher."""

    def __init__(self, skip_after_s: float,
                 on_skip: Callable[[str, float], None] | None = None) -> None:
        super().__init__(skip_delay=skip_after_s)
        self.on_skip = on_skip

    def before_process_message(self, broker: Broker, message: Message) -> None:
        actor = broker.actors.get(message.actor_name)
        if actor is None or "periodic" not in actor.options:
            return
        scheduled = message.options.get("scheduled_at")
        if not scheduled:
            return  # sent by hand
        age = _age_s(str(scheduled))
        if age <= self.skip_delay:
            return
        if message.actor_name in NEVER_SKIPPED:
            log.warning("%s is %.0fs late; running it anyway (it catches up on its own)",
                        message.actor_name, age)
            return
        log.warning("skipping %s scheduled at %s: %.0fs late (more than %gs); the next tick "
                    "runs it", message.actor_name, scheduled, age, self.skip_delay)
        if self.on_skip is not None:
            try:
                self.on_skip(job_name(message.actor_name), age)
            except Exception as exc:  # counting must never stop the worker
                log.warning("could not count the skip (%s)", type(exc).__name__)
        raise SkipMessage()
