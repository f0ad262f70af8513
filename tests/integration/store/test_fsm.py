"""Every legal and every illegal transition, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from sqlmodel import Session

from fleet.errors import IllegalTransition, LeaseLost, NotFound
from fleet.runs import fsm
from fleet.store import runs as store
from fleet.store.models import TERMINAL_STATES, RunState
from tests.helpers import make_run

# SPEC §4, written out by hand (plus queued -> failed, the queued expiry of SPEC §8):
# the tests compare it with fsm.TRANSITIONS both ways and derive their cases from it,
# never from the table under test.
SPEC_TABLE: dict[str, set[str]] = {
    "queued": {"running", "cancelled", "failed"},
    "running": {"waiting_tool", "waiting_approval", "completed", "failed", "cancelled",
                "timeout", "queued"},
    "waiting_tool": {"running", "queued", "failed", "cancelled"},
    "waiting_approval": {"running", "queued", "cancelled", "timeout"},
    "completed": set(),
    "failed": set(),
    "cancelled": set(),
    "timeout": set(),
}
SPEC_SYSTEM_ONLY = {("running", "queued")}  # only the reaper or a graceful shutdown

ALL = list(RunState)
PAIRS = list(itertools.product(ALL, ALL))
LEGAL = [(a, b) for a, b in PAIRS if b.value in SPEC_TABLE[a.value]]
ILLEGAL = [(a, b) for a, b in PAIRS if b.value not in SPEC_TABLE[a.value]]


def _run_in(session: Session, now: datetime, state: RunState) -> str:
    lease = {"lease_id": "L1", "lease_until": now + timedelta(seconds=60), "runtime_id": "rt"}
    run = make_run(session, now, state=state.value, **(lease if state is RunState.RUNNING else {}))
    return run.id


def test_table_matches_spec_both_ways() -> None:
    code = {src.value: {dst.value for dst in dsts} for src, dsts in fsm.TRANSITIONS.items()}
    assert set(code) == set(SPEC_TABLE) == {s.value for s in RunState}
    for src, dsts in SPEC_TABLE.items():
        assert code[src] - dsts == set(), f"{src}: allowed by the code, not by the spec"
        assert dsts - code[src] == set(), f"{src}: allowed by the spec, not by the code"
    assert {(a.value, b.value) for a, b in fsm.SYSTEM_ONLY} == SPEC_SYSTEM_ONLY
    for src, dst in SPEC_SYSTEM_ONLY:
        assert not fsm.is_legal(src, dst) and fsm.is_legal(src, dst, system=True)
    for terminal in TERMINAL_STATES:
        assert SPEC_TABLE[terminal.value] == set()


@pytest.mark.parametrize(("src", "dst"), LEGAL, ids=[f"{a}->{b}" for a, b in LEGAL])
def test_legal_transition(session: Session, now: datetime, src: RunState,
                          dst: RunState) -> None:
    run_id = _run_in(session, now, src)
    later = now + timedelta(seconds=5)
    fsm.transition(session, run_id, dst, later, system=True, detail="test")
    session.commit()
    run = store.get(session, run_id, fresh=True)
    assert run is not None and run.state == dst.value
    events = store.events(session, run_id, kind="transition")
    assert [(e.from_state, e.to_state) for e in events] == [(src.value, dst.value)]
    if dst in TERMINAL_STATES:
        assert run.completed_at == later
        assert run.lease_id is None and run.lease_until is None
    else:
        assert run.completed_at is None


@pytest.mark.parametrize(("src", "dst"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_illegal_transition_names_both_states(session: Session, now: datetime,
                                              src: RunState, dst: RunState) -> None:
    run_id = _run_in(session, now, src)
    with pytest.raises(IllegalTransition) as err:
        fsm.transition(session, run_id, dst, now, system=True)
    session.rollback()
    assert f"'{src.value}'" in str(err.value) and f"'{dst.value}'" in str(err.value)
    run = store.get(session, run_id, fresh=True)
    assert run is not None and run.state == src.value
    assert store.events(session, run_id) == []


def test_running_to_queued_is_reserved_for_the_system(session: Session, now: datetime) -> None:
    run_id = _run_in(session, now, RunState.RUNNING)
    with pytest.raises(IllegalTransition):
        fsm.transition(session, run_id, RunState.QUEUED, now)
    session.rollback()
    assert store.get(session, run_id, fresh=True).state == "running"  # type: ignore[union-attr]


def test_fenced_write_after_lease_lost_changes_nothing(session: Session, now: datetime) -> None:
    run_id = _run_in(session, now, RunState.RUNNING)
    with pytest.raises(LeaseLost):
        fsm.transition(session, run_id, RunState.COMPLETED, now, lease_id="not-my-lease",
                       outputs={"x": 1})
    session.rollback()
    run = store.get(session, run_id, fresh=True)
    assert run is not None
    assert (run.state, run.outputs, run.lease_id) == ("running", None, "L1")
    assert store.events(session, run_id) == []


def test_fenced_write_with_lease_succeeds(session: Session, now: datetime) -> None:
    run_id = _run_in(session, now, RunState.RUNNING)
    fsm.transition(session, run_id, RunState.COMPLETED, now, lease_id="L1", outputs={"x": 1})
    session.commit()
    run = store.get(session, run_id, fresh=True)
    assert run is not None and run.state == "completed" and run.outputs == {"x": 1}


def test_unknown_run(session: Session, now: datetime) -> None:
    with pytest.raises(NotFound, match="does-not-exist"):
        fsm.transition(session, "does-not-exist", RunState.CANCELLED, now)


def test_bulk_transition_repeats_conditions(session: Session, now: datetime) -> None:
    a = _run_in(session, now, RunState.QUEUED)
    b = _run_in(session, now, RunState.RUNNING)
    changed = fsm.transition_many(session, [a, b], [RunState.QUEUED], RunState.FAILED, now,
                                  error_code="E-RUN-008")
    session.commit()
    assert changed == [a]
    assert store.get(session, a, fresh=True).error_code == "E-RUN-008"  # type: ignore[union-attr]
    assert store.get(session, b, fresh=True).state == "running"  # type: ignore[union-attr]
