"""The three sweeps on SQLite and PostgreSQL: expired files, (tokens: test_credentials), search."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlmodel import Session

from fleet.artifacts import service
from fleet.artifacts.storage import FsspecStorage
from fleet.engine.blocks.registry import BlockRegistry
from fleet.graphs.service import add_graph, delete_graph
from fleet.ports import JobContext
from fleet.search.coverage import cover_graphs
from fleet.search.service import search
from fleet.search.sources import graph_source
from fleet.settings import Settings
from fleet.store.db import session_factory
from fleet.store.models import Artifact, Graph
from fleet.sweeps import expired_files, registry, search_coverage
from fleet.testing import FlakyStorage


def _put(session: Session, at: datetime, settings: Settings, storage: Any, name: str,
         **kw: Any) -> Artifact:
    return service.put(session, at, storage=storage, settings=settings, user_id="alice",
                       name=name, data=name.encode(), **kw)


def test_expired_files_pages_through_everything_and_skips_a_failing_file(
        session: Session, now: datetime, vault_settings: Settings, tmp_path: Path) -> None:
    settings = vault_settings.model_copy(update={"artifact_cleanup_page": 3,
                                                 "artifact_cleanup_parallel": 2})
    local = FsspecStorage(str(tmp_path / "files"))
    long_ago = now - timedelta(days=3)
    expired = [_put(session, long_ago, settings, local, f"old{i}.txt", expires_in_s=3600)
               for i in range(8)]
    fresh = [_put(session, now, settings, local, f"new{i}.txt") for i in range(3)]
    kept = [_put(session, long_ago, settings, local, f"sys{i}.txt", scope="system")
            for i in range(2)]
    stuck = expired[4]
    flaky = FlakyStorage(local, fail_delete={stuck.storage_key})
    report = expired_files.clean(session, now, settings=settings, storage=flaky)
    assert (report.deleted, report.failed, report.pages) == (7, 1, 3)
    assert report.failures == [stuck.id]
    for a in expired:
        assert local.exists(a.storage_key) == (a.id == stuck.id)
    assert all(local.exists(a.storage_key) for a in fresh + kept)
    left = {a.id: a for a in session.execute(
        select(Artifact).execution_options(populate_existing=True)).scalars()}
    assert set(left) == {stuck.id} | {a.id for a in fresh + kept}
    assert left[stuck.id].cleanup_until is None  # released: the next tick tries again
    session.commit()
    # The next tick, with storage healthy again, through the registered job.
    job = registry.get("expired_files")
    tick = job.run_once(session, now, JobContext(settings=settings.model_copy(
        update={"artifacts_url": str(tmp_path / "files")})))
    assert isinstance(tick, expired_files.ExpiredFilesReport)
    assert (tick.deleted, tick.failed) == (1, 0) and not local.exists(stuck.storage_key)


def test_two_cleanups_at_once_delete_each_file_once(
        engine: Engine, session: Session, now: datetime, vault_settings: Settings,
        tmp_path: Path) -> None:
    settings = vault_settings.model_copy(update={"artifact_cleanup_page": 3})
    local = FsspecStorage(str(tmp_path / "files"))
    expired = [_put(session, now - timedelta(days=3), settings, local, f"f{i}.txt",
                    expires_in_s=3600) for i in range(20)]
    counting = FlakyStorage(local)
    reports: list[expired_files.ExpiredFilesReport] = []
    start = threading.Barrier(2)

    def cleanup() -> None:
        with session_factory(engine)() as s:
            start.wait()
            reports.append(expired_files.clean(s, now, settings=settings, storage=counting))

    threads = [threading.Thread(target=cleanup) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.deleted for r in reports) == 20 and all(r.failed == 0 for r in reports)
    assert sorted(counting.deletes.values()) == [1] * 20
    assert set(counting.deletes) == {a.storage_key for a in expired}
    assert session.execute(select(Artifact)).scalars().all() == []


DOCS = {"deploy.md": "# Deploying fleet\n\nRun PostgreSQL and Redis; workers scale out.\n",
        "alerts.md": "# Alerts\n\nApprise delivers alerts to Discord and Slack webhooks.\n"}


def _graph(gid: str, name: str, description: str, block: str = "template") -> dict[str, Any]:
    inputs = {"template": "x"} if block == "template" else {"url": "http://127.0.0.1:9/"}
    return {"id": gid, "name": name, "description": description,
            "nodes": [{"id": "n", "block": block, "inputs": inputs}]}


def test_search_finds_graph_block_and_page_first_and_coverage_follows_changes(
        session: Session, now: datetime, registry: BlockRegistry, vault_settings: Settings,
        tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    settings = vault_settings.model_copy(update={"search_docs_dir": str(docs)})

    def add(user: str, definition: dict[str, Any], at: datetime = now) -> Graph:
        return add_graph(session, definition, user, at, registry, settings=settings)

    add("alice", _graph("slack-notifier", "Slack notifier",
                        "Posts a message to Slack when a build fails", "http_request"))
    add("alice", _graph("weather-report", "Weather report", "Morning forecast for the team"))
    add("bob", _graph("slack-secret", "Slack secret plans", "Bob's own Slack graph"))
    ctx = JobContext(settings=settings)
    report = search_coverage.run_once(session, now, ctx, registry=registry)
    out = report.to_dict()
    assert out["graph"]["backfill"] == {"processed": 3, "success": 3, "failed": 0}
    assert out["block"]["stats"]["sources"] == len(registry)
    assert out["doc"]["backfill"]["success"] == 2
    assert all(out[k]["coverage_percent"] == 100.0 for k in ("graph", "block", "doc"))

    def first(query: str, kind: str | None = None, user: str = "alice") -> tuple[str, str]:
        hits = search(session, now, settings=settings, user_id=user, query=query, kind=kind)
        assert hits, query
        return hits[0].kind, hits[0].id

    assert first("slack build") == ("graph", "slack-notifier")
    assert first("http request", kind="block") == ("block", "http_request")
    assert first("apprise discord") == ("doc", "alerts.md")
    assert first("deploying") == ("doc", "deploy.md")
    alice_slack = [h.id for h in search(session, now, settings=settings, user_id="alice",
                                        query="slack", kind="graph")]
    assert alice_slack == ["slack-notifier"]  # bob's graph is bob's alone
    # A second pass finds nothing to do.
    again = search_coverage.run_once(session, now, ctx, registry=registry).to_dict()
    assert again["graph"]["backfill"]["processed"] == 0
    # Renamed: the entry is stale and refreshed; deleted: the entry goes.
    add("alice", _graph("slack-notifier", "Teams notifier",
                        "Posts a message to Teams when a build fails", "http_request"))
    delete_graph(session, "alice", "weather-report", now)
    after = search_coverage.run_once(session, now, ctx, registry=registry).to_dict()["graph"]
    assert after["stats"]["stale"] == 1 and after["backfill"]["success"] == 1
    assert after["cleanup"] == {"deleted": 1} and after["coverage_percent"] == 100.0
    assert first("teams") == ("graph", "slack-notifier")
    assert search(session, now, settings=settings, user_id="alice", query="weather") == []


def test_recency_breaks_ties_between_equally_relevant_graphs(
        session: Session, now: datetime, registry: BlockRegistry,
        vault_settings: Settings) -> None:
    old = now - timedelta(days=90)
    add_graph(session, _graph("alpha", "Alpha digest", "Sends the digest"), "alice", old,
              registry, settings=vault_settings)
    add_graph(session, _graph("bravo", "Bravo digest", "Sends the digest"), "alice", now,
              registry, settings=vault_settings)
    cover_graphs(session, now, batch=100)
    hits = search(session, now, settings=vault_settings, user_id="alice", query="digest")
    assert [h.id for h in hits] == ["bravo", "alpha"]
    assert hits[0].relevance == hits[1].relevance and hits[0].score > hits[1].score


def test_an_unreadable_graph_is_counted_failed_and_the_rest_are_indexed(
        session: Session, now: datetime, registry: BlockRegistry,
        vault_settings: Settings) -> None:
    for gid in ("g1", "g2", "g3"):
        add_graph(session, _graph(gid, gid, "d"), "alice", now, registry,
                  settings=vault_settings)

    def to_source(graph: Graph) -> Any:
        if graph.id == "g2":
            raise ValueError("corrupt definition")
        return graph_source(graph)

    result = cover_graphs(session, now, batch=2, to_source=to_source, page=2)
    assert (result.processed, result.success, result.failed) == (3, 2, 1)
    assert result.coverage == 66.67 and result.stopped is None
