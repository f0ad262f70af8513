"""schedules: indexes for the dispatcher (its order; fewer to update); a fire's record is its run

Revision ID: 0009
Revises: 0008

The dispatcher takes due schedules ``ORDER BY next_run_at, id LIMIT n``. On
``(paused, next_run_at)`` every due schedule shares the instant, so each batch
read and sorted every schedule still due (at 100 000 due, a 12 MB sort spilled to
disk per batch of 2 000). With ``id`` in the index the batch is read in index
order and the scan stops at its ``LIMIT``.

Each fire updates the schedule's ``next_run_at``, an indexed column, so the update
enters every index of ``schedules``: ``ix_schedules_user_id`` goes (the lists by
owner read ``ix_schedules_user_created``, which starts with ``user_id``) and
``ix_schedules_buffered`` holds only the schedules with a buffered fire, by id
(the order the dispatcher reads them in).

A cron instant the dispatcher fired is recorded by its run (``schedule_id``,
``scheduled_for``, ``created_at``): the ``fired`` rows written beside such runs
are deleted (``fleet.store.schedules.fires`` reads the runs instead). "Run now"
fires (their run has no ``scheduled_for``) keep their rows. Downgrading writes
the rows again from the runs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_BUFFERED = "buffered_for IS NOT NULL"

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_run_at", "id"],
                    unique=False)
    op.drop_index("ix_schedules_user_id", table_name="schedules")
    op.drop_index("ix_schedules_buffered", table_name="schedules")
    op.create_index("ix_schedules_buffered", "schedules", ["id"], unique=False,
                    postgresql_where=sa.text(_BUFFERED), sqlite_where=sa.text(_BUFFERED))
    op.execute("DELETE FROM schedule_fires WHERE outcome = 'fired' AND run_id IN "
               "(SELECT id FROM runs WHERE scheduled_for IS NOT NULL)")


def downgrade() -> None:
    ignore = ("INSERT OR IGNORE INTO" if op.get_bind().dialect.name == "sqlite"
              else "INSERT INTO")
    conflict = "" if op.get_bind().dialect.name == "sqlite" else " ON CONFLICT DO NOTHING"
    op.execute(f"{ignore} schedule_fires (id, schedule_id, scheduled_for, outcome, run_id, "
               "detail, at) SELECT id, schedule_id, scheduled_for, 'fired', id, NULL, "
               "created_at FROM runs WHERE schedule_id IS NOT NULL "
               f"AND scheduled_for IS NOT NULL{conflict}")
    op.drop_index("ix_schedules_buffered", table_name="schedules")
    op.create_index("ix_schedules_buffered", "schedules", ["buffered_for"], unique=False)
    op.create_index("ix_schedules_user_id", "schedules", ["user_id"], unique=False)
    op.drop_index("ix_schedules_due", table_name="schedules")
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_run_at"], unique=False)
