"""Search index coverage (SPEC §8, §13): every graph, block and page has an up-to-date entry.

Backfills missing and stale entries in batches (``search_batch_size``) until
none is left or a whole batch fails, deletes entries whose source is gone,
and reports ``{backfill: {processed, success, failed}, cleanup: {deleted},
coverage_percent}`` by kind. Runs every 6 h, and once in the background when
the scheduler starts (``schedules.main``, ``fleet dev``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry, default_registry
from fleet.ports import JobContext, JobSpec, Report
from fleet.search.coverage import KindCoverage, cover_graphs, cover_listed
from fleet.search.sources import block_sources, doc_sources, docs_dir


@dataclass
class SearchCoverageReport(Report):
    """The coverage of each kind after the pass."""

    kinds: dict[str, KindCoverage] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{kind: {stats, backfill, cleanup, coverage_percent}}``."""
        return {kind: c.to_dict() for kind, c in self.kinds.items()}

    def summary(self) -> str:
        """One line for logs and the CLI."""
        parts = [f"{k} {c.coverage:g}% (backfilled {c.success}/{c.processed}, deleted "
                 f"{c.deleted})" for k, c in self.kinds.items()]
        return "search_coverage: " + "; ".join(parts)


def run_once(session: Session, now: datetime, ctx: JobContext, *,
             registry: BlockRegistry | None = None,
             docs: Path | None = None) -> SearchCoverageReport:
    """Cover graphs, then blocks, then documentation pages; commits per batch."""
    batch = ctx.settings.search_batch_size
    report = SearchCoverageReport()
    report.kinds["graph"] = cover_graphs(session, now, batch=batch)
    report.kinds["block"] = cover_listed(session, now, "block",
                                         block_sources(registry or default_registry()),
                                         batch=batch)
    report.kinds["doc"] = cover_listed(session, now, "doc",
                                       doc_sources(docs or docs_dir(ctx.settings)), batch=batch)
    return report


SWEEP = JobSpec(
    name="search_coverage",
    description="backfill missing and stale search entries, delete orphans, report coverage",
    cron_setting="cron_search_coverage",
    run_once=run_once,
)
