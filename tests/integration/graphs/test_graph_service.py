"""The graph service: file loading, versioned adds, ownership, delete and archive."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.errors import InvalidInput, NotFound
from fleet.graphs.files import load_graph_file
from fleet.graphs.service import add_graph as _add_graph
from fleet.graphs.service import archive_graph, delete_graph
from fleet.settings import Settings
from fleet.store import graphs as store
from fleet.store.models import Graph
from tests.helpers import WriteElsewhere

REG: BlockRegistry = default_registry()
SETTINGS = Settings(_env_file=None)  # type: ignore[call-arg]


def add_graph(session: Session, definition: dict[str, Any], user: str, now: datetime,
              registry: BlockRegistry) -> Graph:
    return _add_graph(session, definition, user, now, registry, settings=SETTINGS)


def graph(**over: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"id": "g", "nodes": [{"id": "c", "block": "constant",
                                              "inputs": {"value": 1}}]}
    d.update(over)
    return d


def test_load_graph_file_json_yaml_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"id": "a", "nodes": []}')
    (tmp_path / "b.yaml").write_text("id: b\nnodes: []\n")
    (tmp_path / "bad.yaml").write_text("id: [unclosed\n")
    (tmp_path / "list.yml").write_text("- 1\n")
    assert load_graph_file(tmp_path / "a.json")["id"] == "a"
    assert load_graph_file(tmp_path / "b.yaml")["id"] == "b"
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_graph_file(tmp_path / "bad.yaml")
    with pytest.raises(InvalidInput, match="must hold a mapping"):
        load_graph_file(tmp_path / "list.yml")
    with pytest.raises(InvalidInput, match="cannot read"):
        load_graph_file(tmp_path / "missing.json")
    (tmp_path / "latin1.yaml").write_bytes("id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8"):
        load_graph_file(tmp_path / "latin1.yaml")


def test_add_versions_only_when_changed(session: Session, now: datetime) -> None:
    g1 = add_graph(session, graph(timeout_s=30, max_attempts=2), "alice", now, REG)
    assert (g1.version, g1.timeout_s, g1.max_attempts, g1.name) == (1, 30.0, 2, "g")
    same = add_graph(session, graph(timeout_s=30, max_attempts=2), "alice", now, REG)
    assert same.version == 1
    changed = graph(timeout_s=30, max_attempts=2, description="new")
    g2 = add_graph(session, changed, "alice", now + timedelta(seconds=1), REG)
    assert g2.version == 2
    assert [v.is_active for v in store.versions(session, "alice", "g")] == [False, True]


def test_invalid_graph_changes_nothing(session: Session, now: datetime) -> None:
    with pytest.raises(InvalidInput) as info:
        add_graph(session, graph(nodes=[{"id": "c", "block": "nope"}]), "alice", now, REG)
    assert "unknown block 'nope'" in info.value.problems[0]
    assert store.versions(session, "alice", "g") == []


def test_graph_ids_are_per_owner(session: Session, now: datetime) -> None:
    a = add_graph(session, graph(), "alice", now, REG)
    b = add_graph(session, graph(description="bob's own"), "bob", now, REG)
    assert (a.user_id, a.version, b.user_id, b.version) == ("alice", 1, "bob", 1)
    assert [v.description for v in store.versions(session, "alice", "g")] == [""]
    assert [v.description for v in store.versions(session, "bob", "g")] == ["bob's own"]
    assert delete_graph(session, "bob", "g", now) == 1
    assert store.get(session, "alice", "g") is not None


def test_delete_and_archive_check_ownership(session: Session, now: datetime) -> None:
    add_graph(session, graph(), "alice", now, REG)
    add_graph(session, graph(id="h"), "alice", now, REG)
    # Another user's graph is answered exactly as a missing one.
    with pytest.raises(NotFound, match="does not exist for user 'bob'"):
        delete_graph(session, "bob", "g", now)
    with pytest.raises(NotFound, match="does not exist for user 'bob'"):
        archive_graph(session, "bob", "g", now)
    with pytest.raises(NotFound):
        delete_graph(session, "alice", "zzz", now)
    assert store.get(session, "alice", "g") is not None
    assert delete_graph(session, "alice", "g", now) == 1
    assert store.versions(session, "alice", "g") == []
    assert archive_graph(session, "alice", "h", now) == 1
    h = store.get(session, "alice", "h")
    assert h is not None and h.is_archived


def test_missing_timeout_and_attempts_take_the_settings_defaults(session: Session,
                                                                 now: datetime) -> None:
    settings = Settings(_env_file=None, default_graph_timeout_s=90,  # type: ignore[call-arg]
                        default_max_attempts=5)
    definition = {"id": "bare", "nodes": [{"id": "a", "block": "constant",
                                           "inputs": {"value": 1}}]}
    graph = _add_graph(session, definition, "alice", now, default_registry(), settings=settings)
    assert (graph.timeout_s, graph.max_attempts) == (90, 5)
    explicit = {**definition, "id": "explicit", "timeout_s": 30, "max_attempts": 2}
    graph = _add_graph(session, explicit, "alice", now, default_registry(), settings=settings)
    assert (graph.timeout_s, graph.max_attempts) == (30, 2)


def test_a_write_committed_elsewhere_while_a_graph_is_added_does_not_fail_it(
        session: Session, now: datetime, monkeypatch: pytest.MonkeyPatch) -> None:
    """add_graph reads the latest version, then inserts: its write transaction starts
    first, so a commit by another process in between cannot make SQLite refuse it."""
    other = WriteElsewhere(session.get_bind(), now)
    latest = store.latest_version

    def latest_with_a_concurrent_write(*args: Any, **kwargs: Any) -> int:
        other.start()
        return latest(*args, **kwargs)

    monkeypatch.setattr(store, "latest_version", latest_with_a_concurrent_write)
    added = add_graph(session, graph(), "alice", now, REG)
    assert added.version == 1
    assert other.outcome() is None
