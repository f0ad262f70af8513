""""Why is this run not moving?": one answer from the store.

Joins the run's state, its lease holder and expiry, that runtime's liveness (the
database's ``last_seen_at``, and Redis liveness when a port is given), the run's place
in the queue, the scheduler's last system-job run and the waiting reason, and names the
causes in order of importance. Reads only; bounded counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from fleet.ports import Liveness
from fleet.runs.queries import visible
from fleet.settings import Settings
from fleet.store import observe
from fleet.store.models import TERMINAL_STATES, Run, RunState

QUEUE_CAP = 10_000
# The system jobs whose silence leaves queued runs unsent or unreaped.
SCHEDULER_JOBS = ("dispatch", "reaper", "resend")


@dataclass(frozen=True)
class Cause:
    """One reason, with a stable code for the API."""

    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        """Plain data."""
        return {"code": self.code, "text": self.text}


@dataclass
class Diagnosis:
    """The answer: a headline, every cause found, and the facts behind them."""

    run_id: str
    state: str
    headline: str
    causes: list[Cause] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data."""
        return {"run_id": self.run_id, "state": self.state, "headline": self.headline,
                "causes": [c.to_dict() for c in self.causes], "facts": self.facts}


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return "never"
    s = max(0.0, (now - then).total_seconds())
    if s < 90:
        return f"{s:.0f}s ago"
    if s < 5400:
        return f"{s / 60:.0f} min ago"
    if s < 172_800:
        return f"{s / 3600:.1f} h ago"
    return f"{s / 86_400:.1f} days ago"


def _scheduler(session: Session, now: datetime, settings: Settings,
               d: Diagnosis) -> None:
    silent_after = timedelta(seconds=settings.scheduler_silence_s)
    last = None
    for name in SCHEDULER_JOBS:
        job = observe.system_job(session, name)
        seen = job.last_success_at if job is not None else None
        if seen is not None and (last is None or seen > last):
            last = seen
    d.facts["scheduler_last_success_at"] = last
    if last is None or now - last > silent_after:
        d.causes.append(Cause("scheduler_silent",
                              f"the scheduler is silent: no system job (dispatch, reaper, "
                              f"re-send) succeeded {'ever' if last is None else _ago(now, last)}"
                              "; lost messages are not re-sent and dead workers' runs are not "
                              "reaped until it runs (is the `scheduler` process up?)"))


def _workers(session: Session, d: Diagnosis) -> int:
    online = observe.runtime_counts(session).get("online", 0)
    d.facts["workers_online"] = online
    if online == 0:
        d.causes.append(Cause("no_worker", "no worker is online: nothing can claim the run "
                                           "(start a `worker` process or `fleet dev`)"))
    return online


def _queued(session: Session, run: Run, now: datetime, settings: Settings,
            d: Diagnosis) -> None:
    _workers(session, d)
    queued_at = run.queued_at or run.created_at
    ahead = observe.queued_ahead(session, queued_at, run.id, QUEUE_CAP)
    d.facts.update(queued_at=queued_at, queued_ahead=min(ahead, QUEUE_CAP),
                   queued_ahead_capped=ahead > QUEUE_CAP, last_sent_at=run.last_sent_at)
    if ahead:
        n = f"{QUEUE_CAP:,}+".replace(",", " ") if ahead > QUEUE_CAP else str(ahead)
        d.causes.append(Cause("backlog", f"{n} queued run(s) are ahead of it in the queue"))
    if run.last_sent_at is None:
        d.causes.append(Cause("unsent", "its message has not reached the broker yet (the "
                                        "broker was unreachable?); the re-send sweep sends it "
                                        f"after {settings.resend_after_s:g}s"))
    _scheduler(session, now, settings, d)
    if run.attempt_count:
        d.facts["attempts"] = f"{run.attempt_count}/{run.max_attempts}"
    d.headline = (d.causes[0].text if d.causes else
                  f"queued {_ago(now, queued_at)}; waiting for a free worker")


def _running(session: Session, run: Run, now: datetime, settings: Settings,
             liveness: Liveness | None, d: Diagnosis) -> None:
    d.facts.update(runtime_id=run.runtime_id, lease_until=run.lease_until,
                   heartbeat_at=run.heartbeat_at, attempts=f"{run.attempt_count}/"
                                                          f"{run.max_attempts}")
    rt = observe.runtime(session, run.runtime_id) if run.runtime_id else None
    alive: bool | None = None
    if rt is not None and liveness is not None:
        try:
            alive = liveness.alive([rt.id]).get(rt.id, False)
        except Exception:  # Redis down: the database's view stands
            alive = None
    if rt is not None:
        d.facts.update(runtime_status=rt.status, runtime_last_seen_at=rt.last_seen_at,
                       runtime_host=rt.hostname, runtime_pid=rt.pid, runtime_alive_key=alive)
    lease_over = run.lease_until is not None and run.lease_until < now
    left = run.max_attempts - run.attempt_count
    if rt is None or rt.status != "online":
        who = f"runtime {run.runtime_id}" if run.runtime_id else "no runtime"
        d.causes.append(Cause("runtime_offline",
                              f"the lease is held by {who}, which is "
                              f"{'gone' if rt is None else 'offline'}; the reaper will "
                              + ("requeue it" if left > 0 else "fail it (no attempts left)")))
    elif (now - rt.last_seen_at).total_seconds() > settings.stale_runtime_after_s and not alive:
        d.causes.append(Cause("runtime_stale",
                              f"its worker {rt.hostname}/{rt.pid} was last seen "
                              f"{_ago(now, rt.last_seen_at)}; the stale-runtime sweep will "
                              "mark it offline and take the run back"))
    if lease_over:
        d.causes.append(Cause("lease_expired",
                              f"its lease expired {_ago(now, run.lease_until)}; the reaper "
                              + ("requeues it" if left > 0 else "fails it: attempts exhausted")))
        _scheduler(session, now, settings, d)
    if run.cancel_requested:
        d.causes.append(Cause("cancel_requested", "cancel requested: the worker stops it at "
                                                  "the next node boundary"))
    d.headline = (d.causes[0].text if d.causes else
                  f"running on {rt.hostname if rt else '?'} since "
                  f"{_ago(now, run.started_at)}; lease held until "
                  f"{run.lease_until.isoformat() if run.lease_until else '?'}")


def _waiting(run: Run, now: datetime, settings: Settings, d: Diagnosis) -> None:
    since = run.state_changed_at
    if run.state == RunState.WAITING_APPROVAL.value:
        limit, code = settings.waiting_approval_timeout_s, "waiting_approval"
        what, then = "waiting for approval", "times out"
    else:
        limit, code = settings.waiting_tool_timeout_s, "waiting_tool"
        what, then = "waiting for a tool result", "fails"
    deadline = since + timedelta(seconds=limit) if since else None
    d.facts.update(waiting_since=since, waiting_deadline=deadline,
                   waiting_reason=run.waiting_reason)
    reason = f" ({run.waiting_reason})" if run.waiting_reason else ""
    d.causes.append(Cause(code, f"{what} since {_ago(now, since)}{reason}; it {then} at "
                                f"{deadline.isoformat() if deadline else '?'} unless someone "
                                "acts"))
    d.headline = d.causes[0].text


def _finished(run: Run, d: Diagnosis) -> None:
    d.facts.update(completed_at=run.completed_at, error_code=run.error_code,
                   attempts=f"{run.attempt_count}/{run.max_attempts}")
    if run.state == RunState.FAILED.value and run.attempt_count >= run.max_attempts \
            and run.error_code in ("E-RUN-002", "E-RUN-005"):
        d.causes.append(Cause("attempts_exhausted",
                              f"it failed after using all {run.max_attempts} attempts "
                              f"({run.error_code}: {run.error_detail or ''})"))
    elif run.error_code:
        d.causes.append(Cause("failed", f"it ended {run.state}: {run.error_code}"
                                        + (f" ({run.error_detail})" if run.error_detail else "")))
    d.headline = (d.causes[0].text if d.causes else
                  f"it finished: {run.state}; retry it to run it again")


def why(session: Session, run_id: str, *, now: datetime, settings: Settings,
        user_id: str | None, liveness: Liveness | None = None) -> Diagnosis:
    """Why ``run_id`` is where it is, for a caller limited to ``user_id`` (None: anyone)."""
    run = visible(session, run_id, user_id)
    d = Diagnosis(run.id, run.state, headline="")
    state = RunState(run.state)
    if state in TERMINAL_STATES:
        _finished(run, d)
    elif state is RunState.QUEUED:
        _queued(session, run, now, settings, d)
    elif state is RunState.RUNNING:
        _running(session, run, now, settings, liveness, d)
    else:
        _waiting(run, now, settings, d)
    session.commit()
    return d
