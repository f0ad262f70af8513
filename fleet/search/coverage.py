"""The coverage pass: every graph, block and page has an up-to-date entry, and no more.

For each kind: compare the sources' text hashes with the entries' (missing,
stale, orphaned), backfill missing and stale entries in batches (one committed
transaction each) until none is left or a whole batch fails, then delete the
entries whose source is gone. Graphs are read page by page, so 100 000 of
them never sit in memory at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.search.sources import Source, graph_source
from fleet.store import graphs as graph_store
from fleet.store import search as store
from fleet.store.db import begin_write

log = logging.getLogger(__name__)

GRAPH_PAGE = 1000


@dataclass(frozen=True)
class Gaps:
    """What the index lacks or holds in excess for one set of sources."""

    missing: list[str]
    stale: list[str]
    orphans: list[str]


def classify(current: Mapping[str, str], indexed: Mapping[str, str]) -> Gaps:
    """Missing (no entry), stale (another hash) and orphaned (no source) ids, sorted."""
    return Gaps(missing=sorted(k for k in current if k not in indexed),
                stale=sorted(k for k, h in current.items() if k in indexed and indexed[k] != h),
                orphans=sorted(k for k in indexed if k not in current))


def coverage_percent(sources: int, out_of_date: int) -> float:
    """Share of sources with an up-to-date entry (100 when there is nothing to index)."""
    if sources <= 0:
        return 100.0
    return round(100.0 * (sources - out_of_date) / sources, 2)


@dataclass
class KindCoverage:
    """The coverage of one kind: what was found, what was done, and how complete it is."""

    sources: int = 0
    indexed: int = 0  # entries before the pass
    missing: int = 0
    stale: int = 0
    orphans: int = 0
    processed: int = 0
    success: int = 0
    failed: int = 0
    deleted: int = 0
    unreadable: int = 0  # sources that could not be turned into text (counted as failed)
    stopped: str | None = None  # why the backfill stopped early, if it did
    coverage: float = 100.0

    def finish(self) -> None:
        """Compute the coverage: sources whose entry is up to date after the pass."""
        self.coverage = coverage_percent(
            self.sources, self.missing + self.stale + self.unreadable - self.success)

    def to_dict(self) -> dict[str, Any]:
        """The report of SPEC §8, with the figures it was computed from."""
        return {"stats": {"sources": self.sources, "indexed": self.indexed,
                          "missing": self.missing, "stale": self.stale,
                          "orphans": self.orphans},
                "backfill": {"processed": self.processed, "success": self.success,
                             "failed": self.failed},
                "cleanup": {"deleted": self.deleted},
                "coverage_percent": self.coverage,
                **({"stopped": self.stopped} if self.stopped else {})}


class _Backfill:
    """Writes pending sources in batches; remembers when a whole batch failed."""

    def __init__(self, session: Session, now: datetime, batch: int, out: KindCoverage) -> None:
        self.session = session
        self.now = now
        self.batch = batch
        self.out = out
        self.pending: list[Source] = []
        self.halted = False

    def add(self, source: Source) -> None:
        if self.halted:
            return
        self.pending.append(source)
        if len(self.pending) >= self.batch:
            self.flush()

    def fail(self, count: int = 1) -> None:
        """Sources that could not even be read count as processed and failed."""
        self.out.processed += count
        self.out.failed += count
        self.out.unreadable += count

    def flush(self) -> None:
        while self.pending and not self.halted:
            batch, self.pending = self.pending[:self.batch], self.pending[self.batch:]
            self.out.processed += len(batch)
            try:
                begin_write(self.session, "search backfill")
                store.upsert(self.session, [s.row(self.now) for s in batch])
                self.session.commit()
                self.out.success += len(batch)
            except Exception as exc:  # the whole batch failed: stop, the next tick retries
                self.session.rollback()
                self.out.failed += len(batch)
                self.out.stopped = f"a whole batch of {len(batch)} failed: " \
                                   f"{type(exc).__name__}: {exc}"
                self.halted = True
                log.error("search coverage: %s", self.out.stopped)


def _settle(session: Session) -> None:
    if session.in_transaction():
        session.commit()


def _delete_orphans(session: Session, kind: str, orphans: list[str], batch: int,
                    out: KindCoverage) -> None:
    for i in range(0, len(orphans), batch):
        begin_write(session, "search cleanup")
        out.deleted += store.delete_sources(session, kind, orphans[i:i + batch])
        session.commit()


def cover_listed(session: Session, now: datetime, kind: str, sources: Iterable[Source], *,
                 batch: int) -> KindCoverage:
    """Coverage of a kind whose sources fit in memory (blocks, documentation pages)."""
    current = {s.source_id: s for s in sources}
    _settle(session)
    indexed = store.hashes(session, kind)
    _settle(session)
    gaps = classify({k: s.text_hash for k, s in current.items()}, indexed)
    out = KindCoverage(sources=len(current), indexed=len(indexed), missing=len(gaps.missing),
                       stale=len(gaps.stale), orphans=len(gaps.orphans))
    writer = _Backfill(session, now, batch, out)
    for source_id in gaps.missing + gaps.stale:
        writer.add(current[source_id])
    writer.flush()
    _delete_orphans(session, kind, gaps.orphans, batch, out)
    out.finish()
    return out


def _graph_pages(session: Session, page: int) -> Iterator[list[Any]]:
    after = ("", "")
    while True:
        rows = graph_store.active_batch(session, after, page)
        _settle(session)
        if not rows:
            return
        yield rows
        after = (rows[-1].user_id, rows[-1].id)
        if len(rows) < page:
            return


def cover_graphs(session: Session, now: datetime, *, batch: int,
                 to_source: Callable[[Any], Source] = graph_source,
                 page: int = GRAPH_PAGE) -> KindCoverage:
    """Coverage of graphs, read page by page (their active, unarchived versions).

    The entries' hashes are read once, in one scan (a source id and a hash per
    graph): looking them up page by page costs far more while the index is
    being filled and the planner's statistics lag behind it.
    """
    _settle(session)
    out = KindCoverage()
    snapshot = store.hashes(session, "graph")
    out.indexed = len(snapshot)
    _settle(session)
    seen: set[str] = set()
    writer = _Backfill(session, now, batch, out)
    for rows in _graph_pages(session, page):
        sources: dict[str, Source] = {}
        for graph in rows:
            try:
                source = to_source(graph)
            except Exception as exc:  # one unreadable graph is skipped, not the pass
                writer.fail()
                log.warning("search coverage: graph %s/%s not indexed: %s", graph.user_id,
                            graph.id, exc)
                seen.add(f"{graph.user_id}/{graph.id}")
                continue
            sources[source.source_id] = source
        seen.update(sources)
        out.sources += len(rows)
        indexed = {k: snapshot[k] for k in sources if k in snapshot}
        gaps = classify({k: s.text_hash for k, s in sources.items()}, indexed)
        out.missing += len(gaps.missing)
        out.stale += len(gaps.stale)
        for source_id in gaps.missing + gaps.stale:
            writer.add(sources[source_id])
        if writer.halted:
            break
    writer.flush()
    if not writer.halted:  # after a halt, the graphs not read yet are unknown: keep entries
        # Entries made by another pass meanwhile are not in the snapshot: they stay.
        orphans = sorted(set(snapshot) - seen)
        out.orphans = len(orphans)
        _delete_orphans(session, "graph", orphans, batch, out)
    out.finish()
    return out
