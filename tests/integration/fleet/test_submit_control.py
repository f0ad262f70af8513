"""Submitting runs (row before message) and cancelling them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import default_registry
from fleet.errors import InvalidInput, NotFound
from fleet.runs import control, leases
from fleet.runs.submit import Request, submit, submit_many
from fleet.settings import Settings
from fleet.store import graphs
from fleet.store import runs as store
from fleet.testing import RecordingSender
from tests.helpers import WriteElsewhere, make_run

DEFINITION: dict[str, Any] = {
    "id": "echo",
    "inputs": {"who": {"type": "string", "required": True, "targets": ["say.value"]}},
    "nodes": [{"id": "say", "block": "constant"}],
    "links": [],
}


def _graph(session: Session, now: datetime, *, user: str = "alice") -> None:
    graphs.add_version(session, graph_id="echo", user_id=user, name="Echo", description="",
                       definition=DEFINITION, timeout_s=60, max_attempts=2, now=now)
    session.commit()


def _submit(session: Session, settings: Settings, now: datetime, sender: RecordingSender,
            **kw: Any) -> Any:
    args: dict[str, Any] = {"graph_id": "echo", "version": None, "inputs": {"who": "bob"},
                            "user_id": "alice"}
    args.update(kw)
    return submit(session, now=now, send=sender, registry=default_registry(),
                  settings=settings, **args)


def test_submit_commits_queued_then_sends(session: Session, settings: Settings,
                                          now: datetime) -> None:
    _graph(session, now)
    observed: list[str | None] = []

    def sender(run_id: str) -> None:
        # At send time the row is already committed: a fresh session sees it queued.
        with Session(session.get_bind()) as other:
            row = store.get(other, run_id)
            observed.append(row.state if row else None)

    run = submit(session, graph_id="echo", version=None, inputs={"who": "bob"},
                 user_id="alice", now=now, send=sender, registry=default_registry(),
                 settings=settings)
    assert observed == ["queued"]
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.last_sent_at == now
    assert row.graph_version == 1 and row.max_attempts == 2 and row.inputs == {"who": "bob"}


def test_failed_send_leaves_run_queued_and_unsent(session: Session, settings: Settings,
                                                  now: datetime) -> None:
    _graph(session, now)
    run = _submit(session, settings, now, RecordingSender(fail=True))
    row = store.get(session, run.id, fresh=True)
    assert row is not None and row.state == "queued" and row.last_sent_at is None
    due = store.resend_due(now.replace(year=now.year + 1), unsent_after_s=10, resend_after_s=120)
    assert store.unclaimed_since(session, due, 10) == [run.id]


@pytest.mark.parametrize("kw,fragment", [
    ({"graph_id": "nope"}, "does not exist"),
    ({"version": 7}, "does not exist"),
    ({"user_id": "mallory"}, "does not exist"),
])
def test_unknown_or_foreign_graph(session: Session, settings: Settings, now: datetime,
                                  kw: dict[str, Any], fragment: str) -> None:
    _graph(session, now)
    sender = RecordingSender()
    with pytest.raises(NotFound, match=fragment):
        _submit(session, settings, now, sender, **kw)
    assert store.list_runs(session) == [] and sender.sent == []


def test_bad_inputs_list_every_problem_and_change_nothing(session: Session, settings: Settings,
                                                          now: datetime) -> None:
    _graph(session, now)
    sender = RecordingSender()
    with pytest.raises(InvalidInput) as err:
        _submit(session, settings, now, sender, inputs={"who": 5, "extra": 1})
    text = " ".join(err.value.problems)
    assert "who" in text and "extra" in text
    with pytest.raises(InvalidInput, match="problem"):
        _submit(session, settings, now, sender, inputs={"who": "x" * 2_000_000})
    assert store.list_runs(session) == [] and sender.sent == []


def test_archived_graph_cannot_run(session: Session, settings: Settings, now: datetime) -> None:
    _graph(session, now)
    graphs.set_archived(session, "alice", "echo", True, now)
    session.commit()
    with pytest.raises(InvalidInput, match="archived"):
        _submit(session, settings, now, RecordingSender())


def test_cancel_queued_and_waiting_at_once(session: Session, now: datetime) -> None:
    queued = make_run(session, now)
    waiting = make_run(session, now, state="waiting_approval")
    for run in (queued, waiting):
        assert control.cancel(session, run.id, now=now).state == "cancelled"
    # A cancelled run is never claimed.
    assert leases.claim(session, queued.id, now, "rt") is None


def test_cancel_running_requests_a_stop(session: Session, now: datetime) -> None:
    run = make_run(session, now)
    assert leases.claim(session, run.id, now, "rt") is not None
    out = control.cancel(session, run.id, now=now)
    assert out.state == "running" and out.cancel_requested
    # Repeating is harmless.
    assert control.cancel(session, run.id, now=now).cancel_requested


def test_cancel_refusals(session: Session, now: datetime) -> None:
    done = make_run(session, now, state="completed")
    with pytest.raises(InvalidInput, match="already completed"):
        control.cancel(session, done.id, now=now)
    with pytest.raises(NotFound):
        control.cancel(session, "nope", now=now)
    other = make_run(session, now)
    with pytest.raises(NotFound):
        control.cancel(session, other.id, now=now, user_id="mallory")
    row = store.get(session, other.id, fresh=True)
    assert row is not None and row.state == "queued"


def test_retry_makes_a_linked_run_with_edited_inputs(session: Session, settings: Settings,
                                                     now: datetime) -> None:
    _graph(session, now)
    sender = RecordingSender()
    first = _submit(session, settings, now, sender, inputs={"who": "a"})
    with pytest.raises(InvalidInput, match="only a finished run can be retried"):
        control.retry(session, first.id, now=now, send=sender, registry=default_registry(),
                      settings=settings, user_id="alice")
    control.cancel(session, first.id, now=now, user_id="alice")
    with pytest.raises(NotFound):  # another user's run looks missing
        control.retry(session, first.id, now=now, send=sender, registry=default_registry(),
                      settings=settings, user_id="bob")
    again = control.retry(session, first.id, now=now, send=sender, registry=default_registry(),
                          settings=settings, user_id="alice", inputs={"who": "b"})
    assert again.id != first.id and again.retry_of == first.id and again.state == "queued"
    assert again.inputs == {"who": "b"} and again.graph_version == first.graph_version
    assert sender.sent == [first.id, again.id]


def test_submit_many_is_one_batch_committed_before_one_send(
        session: Session, settings: Settings, now: datetime) -> None:
    _graph(session, now)
    batches: list[list[str]] = []

    def send_many(run_ids: Any) -> None:
        # the whole batch is committed (and recorded as sent) before it goes out
        with Session(session.get_bind()) as other:
            assert all(store.get(other, r).state == "queued" for r in run_ids)  # type: ignore[union-attr]
        batches.append(list(run_ids))

    sender = RecordingSender()
    ids = submit_many(session, [Request("echo", inputs={"who": str(i)}) for i in range(5)],
                      user_id="alice", now=now, send=sender, send_many=send_many,
                      registry=default_registry(), settings=settings)
    assert batches == [ids] and sender.sent == []
    for i, run_id in enumerate(ids):
        row = store.get(session, run_id, fresh=True)
        assert row is not None and row.inputs == {"who": str(i)}
        assert (row.state, row.last_sent_at, row.send_count) == ("queued", now, 1)


def test_submit_many_refused_by_the_broker_leaves_the_runs_for_the_resend_sweep(
        session: Session, settings: Settings, now: datetime) -> None:
    _graph(session, now)
    failing = RecordingSender(fail=True)
    ids = submit_many(session, [Request("echo", inputs={"who": "x"})] * 3, user_id="alice",
                      now=now, send=failing, send_many=lambda run_ids: failing(run_ids[0]),
                      registry=default_registry(), settings=settings)
    rows = [store.get(session, r, fresh=True) for r in ids]
    assert [(r.state, r.last_sent_at, r.send_count) for r in rows if r] == \
        [("queued", None, 0)] * 3


def test_submit_many_with_one_bad_request_creates_nothing(
        session: Session, settings: Settings, now: datetime) -> None:
    _graph(session, now)
    sender = RecordingSender()
    with pytest.raises(InvalidInput) as err:
        submit_many(session, [Request("echo", inputs={"who": "x"}), Request("echo", inputs={}),
                              Request("nope", inputs={})],
                    user_id="alice", now=now, send=sender, registry=default_registry(),
                    settings=settings)
    assert "2 problem(s)" in err.value.message
    assert any(p.startswith("run 2:") for p in err.value.problems)
    assert any(p.startswith("run 3:") for p in err.value.problems)
    assert sender.sent == [] and sum(store.count_by_state(session).values()) == 0


@pytest.mark.parametrize("batch", [False, True], ids=["submit", "submit_many"])
def test_a_write_committed_by_another_process_during_the_checks_does_not_fail_the_submit(
        session: Session, settings: Settings, now: datetime, monkeypatch: pytest.MonkeyPatch,
        batch: bool) -> None:
    """On SQLite a transaction that read and then writes is refused at once when another
    connection committed in between (``fleet dev`` writing while ``fleet runs submit``
    validates): the submission's write transaction starts before its checks."""
    _graph(session, now)
    from fleet.runs import submit as submit_module

    checked = submit_module.checks.problems
    other = WriteElsewhere(session.get_bind(), now)

    def problems_with_a_concurrent_write(*args: Any, **kwargs: Any) -> list[str]:
        other.start()
        return checked(*args, **kwargs)

    monkeypatch.setattr(submit_module.checks, "problems", problems_with_a_concurrent_write)
    sender = RecordingSender()
    if batch:
        ids = submit_many(session, [Request("echo", {"who": "bob"})], user_id="alice", now=now,
                          send=sender, registry=default_registry(), settings=settings)
    else:
        ids = [_submit(session, settings, now, sender).id]
    assert other.outcome() is None  # the other write went through too, after the submit
    row = store.get(session, ids[0], fresh=True)
    assert row is not None and row.state == "queued"
