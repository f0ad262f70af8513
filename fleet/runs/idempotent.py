"""Submitting with an ``Idempotency-Key``: the same key twice gives one run.

The key is stored with the run it created, in the run's own transaction, keyed by
``(user_id, key)``: a retried request (a client that timed out, a double click) gets the
first run back instead of a second one, and of two concurrent requests with one key the
second fails on the primary key and answers the first's run. The key remembers a hash of
the request: reusing it for a different graph or inputs is a Conflict, not a silent
replay. Keys go with their run when retention prunes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import Conflict, InvalidInput
from fleet.ports import RunSender
from fleet.runs.create import NewRun, create
from fleet.runs.sending import send_and_record
from fleet.runs.submit import runnable_graph
from fleet.settings import Settings
from fleet.store import idempotency as store
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.store.models import Run

MAX_KEY = 255


@dataclass(frozen=True)
class Submitted:
    """The run, and whether it was created earlier under the same key."""

    run: Run
    replayed: bool


def request_hash(graph_id: str, version: int | None, inputs: dict[str, Any]) -> str:
    """A stable hash of what was asked for."""
    body = json.dumps({"graph_id": graph_id, "version": version, "inputs": inputs},
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def check_key(key: str) -> str:
    """The key if usable (1-255 visible ASCII characters), else InvalidInput naming it."""
    if not key or len(key) > MAX_KEY or not all(33 <= ord(c) < 127 for c in key):
        raise InvalidInput("invalid Idempotency-Key",
                           [f"Idempotency-Key: 1-{MAX_KEY} visible ASCII characters"])
    return key


def _replay(session: Session, user_id: str, key: str, wanted: str) -> Run | None:
    found = store.get(session, user_id, key)
    if found is None:
        session.commit()
        return None
    if found.request_hash != wanted:
        session.rollback()
        raise Conflict(f"Idempotency-Key '{key}' was used for another request (run "
                       f"{found.run_id}); use a new key for a new submission")
    run = run_store.get(session, found.run_id, fresh=True)
    session.commit()
    return run


def submit_once(session: Session, *, key: str, graph_id: str, version: int | None,
                inputs: dict[str, Any], user_id: str, now: datetime, send: RunSender,
                registry: BlockRegistry, settings: Settings) -> Submitted:
    """Submit like :func:`fleet.runs.submit.submit`, at most once per ``(user_id, key)``."""
    check_key(key)
    wanted = request_hash(graph_id, version, inputs)
    earlier = _replay(session, user_id, key, wanted)
    if earlier is not None:
        return Submitted(earlier, True)
    # One write transaction from the check to the commit (BEGIN IMMEDIATE on SQLite, where a
    # reader cannot safely turn writer; on PostgreSQL the primary key settles a race).
    begin_write(session, "submit")
    try:
        graph = runnable_graph(session, graph_id=graph_id, version=version, inputs=inputs,
                               user_id=user_id, registry=registry, settings=settings, now=now)
    except BaseException:
        session.rollback()
        raise
    try:
        run_id = create(session, NewRun(user_id=user_id, graph=graph, inputs=dict(inputs),
                                        detail=f"submitted by {user_id}"), now)
        assert run_id is not None  # only scheduled fires can be duplicates
        store.add(session, user_id=user_id, key=key, run_id=run_id, request_hash=wanted,
                  now=now)
        session.commit()
    except IntegrityError:
        session.rollback()  # a concurrent request with this key committed first
        earlier = _replay(session, user_id, key, wanted)
        if earlier is None:
            raise
        return Submitted(earlier, True)
    send_and_record(session, [run_id], now, send)
    run = run_store.get(session, run_id, fresh=True)
    session.commit()
    assert run is not None
    return Submitted(run, False)
