"""The dispatcher's pure rule: what one due schedule does at ``now``.

Given the schedule's cron, its ``next_run_at``, its catch-up and overlap
policies and whether a run of it is still active, :func:`plan` says which
instants fire, which are recorded missed or skipped, what is buffered, and
the new ``next_run_at``. No database, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fleet.scheduling.cron import CronExpr

_HARD_LIMIT = 100_000  # instants enumerated in one plan, whatever the settings


@dataclass
class Plan:
    """The outcome of one schedule at one dispatcher tick."""

    fire: list[datetime] = field(default_factory=list)
    missed: list[tuple[datetime, str]] = field(default_factory=list)
    skipped: list[tuple[datetime, str]] = field(default_factory=list)
    next_run_at: datetime | None = None
    buffered_for: datetime | None = None
    cancel_active: bool = False


@dataclass
class CatchUp:
    """What the catch-up rule chose among the instants due at one tick."""

    chosen: list[datetime] = field(default_factory=list)
    missed: list[tuple[datetime, str]] = field(default_factory=list)
    next_run_at: datetime | None = None


def _enumerate(expr: CronExpr, first: datetime, now: datetime, window_start: datetime,
               max_fires: int) -> tuple[list[datetime], bool, list[datetime], datetime | None]:
    """Instants from ``first``: those before the window (at most ``max_fires``, and whether
    more were cut), those due inside it, and the next one after ``now``."""
    t: datetime | None = first
    older: list[datetime] = []
    more_older = False
    while t is not None and t < window_start:
        if len(older) >= max_fires:
            more_older = True
            t = expr.next_after(window_start - timedelta(microseconds=1))
            break
        older.append(t)
        t = expr.next_after(t)
    due: list[datetime] = []
    while t is not None and t <= now and len(due) < _HARD_LIMIT:
        due.append(t)
        t = expr.next_after(t)
    return older, more_older, due, t


def catch_up(expr: CronExpr, next_run_at: datetime, now: datetime, *, catchup: str,
             window_s: float, grace_s: float, max_fires: int) -> CatchUp:
    """The catch-up rule: which due instants fire, which are missed, the next ``next_run_at``.

    Instants at most ``max(window_s, grace_s)`` late are "in the window":
    ``latest`` fires the latest one, ``all`` each of them (the newest
    ``max_fires``), ``skip`` only one at most ``grace_s`` late. Every other due
    instant is recorded missed (older misses beyond ``max_fires`` are summarised
    in the last one's detail).
    """
    window = max(window_s, grace_s)
    window_start = now - timedelta(seconds=window)
    older, more_older, due, after = _enumerate(expr, next_run_at, now, window_start, max_fires)
    out = CatchUp(next_run_at=after)
    out.missed = [(when, f"more than {window:g}s late (catch-up window)") for when in older]
    if more_older and out.missed:
        last, detail = out.missed[-1]
        out.missed[-1] = (last, detail + f"; further instants up to {window_start.isoformat()} "
                          "were missed too and are not listed")
    if not due:
        return out
    if catchup == "all":
        out.chosen = due[-max_fires:]
        out.missed.extend((d, f"beyond {max_fires} catch-up fires") for d in due[:-max_fires])
    elif catchup == "skip":
        on_time = (now - due[-1]).total_seconds() <= grace_s
        out.chosen = [due[-1]] if on_time else []
        out.missed.extend((d, "catch-up policy skip") for d in (due[:-1] if on_time else due))
    else:  # latest: coalesce
        out.chosen = [due[-1]]
        out.missed.extend((d, f"coalesced into {due[-1].isoformat()}") for d in due[:-1])
    return out


def apply_overlap(out: Plan, chosen: list[datetime], *, overlap: str, active: bool) -> None:
    """The overlap rule, for fires chosen while a run of the schedule may still be active.

    ``skip`` records the fires skipped, ``allow`` fires, ``buffer_one`` holds
    one instant back until the active run ends (later ones are skipped), and
    ``cancel_previous`` fires and asks the active runs to cancel. Fires of one
    catch-up pass do not count as overlapping each other.
    """
    if not chosen or not active or overlap == "allow":
        out.fire.extend(chosen)
    elif overlap == "skip":
        out.skipped.extend((d, "previous run still active (overlap policy skip)")
                           for d in chosen)
    elif overlap == "buffer_one":
        rest = chosen
        if out.buffered_for is None:
            out.buffered_for, rest = chosen[0], chosen[1:]
        out.skipped.extend((d, "previous run still active and one fire already buffered")
                           for d in rest)
    elif overlap == "cancel_previous":
        out.fire.extend(chosen)
        out.cancel_active = True
    else:
        out.skipped.extend((d, f"unknown overlap policy '{overlap}'") for d in chosen)


def plan(
    expr: CronExpr,
    next_run_at: datetime | None,
    now: datetime,
    *,
    catchup: str,
    window_s: float,
    grace_s: float,
    overlap: str,
    active: bool,
    buffered_for: datetime | None,
    max_fires: int,
) -> Plan:
    """Decide one schedule's tick: release a buffered fire, then :func:`catch_up`, then
    :func:`apply_overlap` (overlap counts a run that was active before this tick)."""
    out = Plan(buffered_for=buffered_for)
    if buffered_for is not None and not active:
        # The run that held the buffered instant back has ended: release it now.
        out.fire.append(buffered_for)
        out.buffered_for = None
        active = True
    if next_run_at is None or next_run_at > now:
        out.next_run_at = next_run_at
        return out
    caught = catch_up(expr, next_run_at, now, catchup=catchup, window_s=window_s,
                      grace_s=grace_s, max_fires=max_fires)
    out.next_run_at = caught.next_run_at
    out.missed = caught.missed
    apply_overlap(out, caught.chosen, overlap=overlap, active=active)
    return out
