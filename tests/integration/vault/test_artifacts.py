"""Artifacts on SQLite and PostgreSQL: the service, owners, inputs, block files, spills."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from fleet.artifacts import service
from fleet.artifacts.storage import storage_for
from fleet.engine.blocks.registry import BlockRegistry
from fleet.errors import InvalidInput, NotFound, StorageError
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store.models import Artifact, Run
from fleet.testing import FlakyStorage, RecordingSender, memory_storage


def _count(session: Session, model: Any) -> int:
    n = session.execute(select(func.count()).select_from(model)).scalar_one()
    session.commit()
    return int(n)


def test_put_get_list_delete_in_a_local_directory(
        session: Session, now: datetime, vault_settings: Settings) -> None:
    storage = storage_for(vault_settings)
    art = service.put(session, now, storage=storage, settings=vault_settings, user_id="alice",
                      name="notes.txt", data=b"hello artifacts", expires_in_s=3600)
    assert (art.size, art.content_type, art.scope) == (15, "text/plain", "user")
    assert art.expires_at == now + timedelta(hours=1)
    assert (Path(vault_settings.artifacts_url) / art.storage_key).read_bytes() == \
        b"hello artifacts"
    got, data = service.get(session, now, storage=storage, user_id="alice", artifact_id=art.id)
    assert data == b"hello artifacts" and got.sha256 == art.sha256
    default = service.put(session, now, storage=storage, settings=vault_settings,
                          user_id="alice", name="d.bin", data=b"x")
    assert default.expires_at == now + timedelta(hours=48)
    system = service.put(session, now, storage=storage, settings=vault_settings,
                         user_id="alice", name="s.bin", data=b"x", scope="system")
    assert system.expires_at is None
    assert {a.id for a in service.list_artifacts(session, "alice")} == {art.id, default.id,
                                                                         system.id}
    assert service.delete(session, now, storage=storage, user_id="alice",
                          artifact_id=art.id) == art.id
    assert not storage.exists(art.storage_key) and _count(session, Artifact) == 2


def test_another_users_artifact_is_refused_and_nothing_changes(
        session: Session, now: datetime, vault_settings: Settings) -> None:
    storage = memory_storage()
    art = service.put(session, now, storage=storage, settings=vault_settings, user_id="alice",
                      name="a.txt", data=b"alice's")
    for action in (lambda: service.get(session, now, storage=storage, user_id="bob",
                                       artifact_id=art.id),
                   lambda: service.delete(session, now, storage=storage, user_id="bob",
                                          artifact_id=art.id)):
        with pytest.raises(NotFound, match=f"artifact {art.id} does not exist for user 'bob'"):
            action()
    assert service.list_artifacts(session, "bob") == []
    assert _count(session, Artifact) == 1 and storage.exists(art.storage_key)
    with pytest.raises(NotFound, match="expired at"):
        service.get(session, now + timedelta(days=3), storage=storage, user_id="alice",
                    artifact_id=art.id)


def test_bad_uploads_are_refused_with_every_problem_and_store_nothing(
        session: Session, now: datetime, vault_settings: Settings) -> None:
    storage = memory_storage()
    small = vault_settings.model_copy(update={"artifact_max_bytes": 4})
    with pytest.raises(InvalidInput) as err:
        service.put(session, now, storage=storage, settings=small, user_id="alice",
                    name="../x", data=b"too long", expires_in_s=60)
    text = "\n".join(err.value.problems)
    assert "without path separators" in text and "over FLEET_ARTIFACT_MAX_BYTES" in text
    assert "outside 3600-172800 s" in text
    with pytest.raises(InvalidInput) as system:
        service.put(session, now, storage=storage, settings=vault_settings, user_id="alice",
                    name="s", data=b"x", scope="system", expires_in_s=3600)
    assert system.value.problems == ["expires: system artifacts never expire; leave it out"]
    assert _count(session, Artifact) == 0


def test_a_refused_file_delete_keeps_the_artifact(
        session: Session, now: datetime, vault_settings: Settings) -> None:
    inner = memory_storage()
    art = service.put(session, now, storage=inner, settings=vault_settings, user_id="alice",
                      name="a.txt", data=b"keep me")
    flaky = FlakyStorage(inner, fail_delete={art.storage_key})
    with pytest.raises(StorageError, match="refused"):
        service.delete(session, now, storage=flaky, user_id="alice", artifact_id=art.id)
    assert _count(session, Artifact) == 1 and inner.exists(art.storage_key)


def test_duration_parsing() -> None:
    assert [service.parse_duration(t) for t in ("90m", "24h", "2d", "3600", "10s")] == [
        5400, 86400, 172800, 3600, 10]
    with pytest.raises(InvalidInput, match="is not a duration"):
        service.parse_duration("soon")


READER = {"id": "reader", "inputs": {"doc": {"type": "artifact", "required": True,
                                             "targets": ["show.value"]}},
          "nodes": [{"id": "show", "block": "template", "inputs": {"template": "read: {value}"}}]}


def test_a_graph_input_references_an_artifact_owned_by_the_submitter(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_graph_of: Callable[..., Any]) -> None:
    storage = storage_for(vault_settings)
    mine = service.put(session, now, storage=storage, settings=vault_settings,
                       user_id="alice", name="in.txt", data=b"the file's text")
    theirs = service.put(session, now, storage=storage, settings=vault_settings,
                         user_id="bob", name="b.txt", data=b"bob's")
    add_graph_of("alice", READER)
    with pytest.raises(InvalidInput) as err:
        submit(session, graph_id="reader", version=None, inputs={"doc": {"artifact": theirs.id}},
               user_id="alice", now=now, send=RecordingSender(), registry=registry,
               settings=vault_settings)
    assert err.value.problems == [f"inputs: input 'doc': artifact {theirs.id} does not exist "
                                  "for user 'alice'; see `fleet artifacts list`"]
    assert _count(session, Run) == 0
    run = submit(session, graph_id="reader", version=None,
                 inputs={"doc": {"artifact": mine.id}}, user_id="alice", now=now,
                 send=RecordingSender(), registry=registry, settings=vault_settings)
    run_inline(open_session, run.id, registry=registry, settings=vault_settings,
               clock=lambda: now)
    with open_session() as s:
        row = run_store.get(s, run.id)
        assert row is not None and row.outputs == {"show.text": "read: the file's text"}


def test_a_block_writes_a_file_and_a_large_output_is_spilled_to_an_artifact(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        open_session: Callable[[], Session], add_graph_of: Callable[..., Any]) -> None:
    settings = vault_settings.model_copy(update={"event_data_cap_bytes": 256})
    big = "y" * 5000
    add_graph_of("alice", {"id": "writer", "nodes": [
        {"id": "big", "block": "constant", "inputs": {"value": big}},
        {"id": "save", "block": "write_file", "inputs": {"name": "report.json",
                                                         "content": {"ok": True}}}]})
    run = submit(session, graph_id="writer", version=None, inputs={}, user_id="alice", now=now,
                 send=RecordingSender(), registry=registry, settings=settings)
    run_inline(open_session, run.id, registry=registry, settings=settings, clock=lambda: now)
    storage = storage_for(settings)
    with open_session() as s:
        row = run_store.get(s, run.id)
        assert row is not None and row.state == "completed", row.error_detail if row else None
        ref = row.outputs["save.artifact"] if row.outputs else None
        spilled: list[Any] = [e.data for e in run_store.events(s, run.id, kind="output")
                              if e.source_node == "big"]
    assert ref is not None and ref["name"] == "report.json"
    artifact, data = service.get(session, now, storage=storage, user_id="alice",
                                 artifact_id=ref["artifact"])
    assert json.loads(data) == {"ok": True} and artifact.scope == "run"
    assert artifact.run_id == run.id and artifact.expires_at == now + timedelta(hours=48)
    [event] = spilled
    assert event["truncated"] is True and event["size"] == len(big) + 2
    _, whole = service.get(session, now, storage=storage, user_id="alice",
                           artifact_id=event["artifact"])
    assert json.loads(whole) == big
    with pytest.raises(NotFound):
        service.get(session, now, storage=storage, user_id="bob", artifact_id=event["artifact"])
