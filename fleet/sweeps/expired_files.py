"""Expired files (SPEC §8, §13): artifacts past ``expires_at`` leave storage and the store.

Every page of the listing of expired artifacts is worked through (in id
order, so a file that fails is not met again in the same pass). Each page is
first claimed (a conditional UPDATE with this pass's token): a second cleanup
running at the same time skips what the first holds, so no file is deleted
twice. The claimed files are deleted from storage a few at a time; a file
whose delete fails is logged, skipped and released for the next tick, and
the rows of the deleted ones go. An artifact without expiry is never listed.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session

from fleet.artifacts.storage import Storage, storage_for
from fleet.ports import JobContext, JobSpec, Report
from fleet.settings import Settings
from fleet.store import artifacts as store
from fleet.store.db import begin_write
from fleet.store.models import Artifact
from fleet.store.types import new_id

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 20


@dataclass
class ExpiredFilesReport(Report):
    """What one cleanup deleted, skipped and failed to delete."""

    deleted: int = 0
    failed: int = 0
    skipped: int = 0  # held by another cleanup running at the same time
    pages: int = 0
    failures: list[str] = field(default_factory=list)  # ids of the first files that failed

    def summary(self) -> str:
        """One line for logs and the CLI."""
        return (f"expired_files: deleted {self.deleted} file(s) in {self.pages} page(s)"
                + (f", {self.failed} failed (retried next tick)" if self.failed else "")
                + (f", {self.skipped} held by another cleanup" if self.skipped else ""))


def claim_until(now: datetime, claim_s: float) -> datetime:
    """Until when a cleanup holds the artifacts it claimed."""
    return now + timedelta(seconds=claim_s)


def delete_files(storage: Storage, artifacts: list[Artifact],
                 parallel: int) -> tuple[list[str], list[tuple[str, str]]]:
    """Delete the artifacts' files, ``parallel`` at a time: (ids deleted, (id, error) failed)."""
    if not artifacts:
        return [], []
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    with cf.ThreadPoolExecutor(max_workers=max(1, parallel),
                               thread_name_prefix="fleet-expired-files") as pool:
        futures = {pool.submit(storage.delete, a.storage_key): a for a in artifacts}
        for future in cf.as_completed(futures):
            artifact = futures[future]
            try:
                future.result()
                done.append(artifact.id)
            except Exception as exc:  # one file's failure never stops the others
                failed.append((artifact.id, f"{type(exc).__name__}: {exc}"))
    return sorted(done), sorted(failed)


def clean(session: Session, now: datetime, *, settings: Settings,
          storage: Storage) -> ExpiredFilesReport:
    """Delete every artifact expired at ``now``, page by page; commits per page."""
    report = ExpiredFilesReport()
    token = new_id()
    after = ""
    if session.in_transaction():
        session.commit()
    while True:
        page = store.expired_page(session, now, after, settings.artifact_cleanup_page)
        session.commit()
        if not page:
            return report
        report.pages += 1
        after = page[-1]
        begin_write(session, "expired files claim")
        claimed = store.claim(session, page, token, now,
                              claim_until(now, settings.artifact_cleanup_claim_s))
        session.commit()
        report.skipped += len(page) - len(claimed)
        done, failed = delete_files(storage, claimed, settings.artifact_cleanup_parallel)
        for artifact_id, error in failed:
            log.warning("expired artifact %s: its file could not be deleted (%s); skipped, "
                        "retried next tick", artifact_id, error)
        begin_write(session, "expired files delete")
        report.deleted += store.delete_claimed(session, done, token)
        store.release(session, [i for i, _ in failed], token)
        session.commit()
        report.failed += len(failed)
        room = MAX_LISTED_FAILURES - len(report.failures)
        report.failures += [i for i, _ in failed][:max(0, room)]
        if len(page) < settings.artifact_cleanup_page:
            return report


def run_once(session: Session, now: datetime, ctx: JobContext) -> ExpiredFilesReport:
    """The job: clean the storage of ``FLEET_ARTIFACTS_URL``."""
    report = clean(session, now, settings=ctx.settings, storage=storage_for(ctx.settings))
    if report.deleted or report.failed:
        log.info(report.summary())
    return report


SWEEP = JobSpec(
    name="expired_files",
    description="delete artifacts past their expiry from storage and the store",
    cron_setting="cron_expired_files",
    run_once=run_once,
)
