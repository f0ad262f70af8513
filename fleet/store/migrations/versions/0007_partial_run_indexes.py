"""runs: partial indexes, so a new run enters only the indexes its queries need

Revision ID: 0007
Revises: 0006

Every index of ``runs`` costs each insert and each state change (an update that
changes an indexed column writes an entry in every index). Indexes whose queries
only ask for rows with a value in the column (a lease, a start, a completion, an
error, a schedule, a retry) become partial on ``IS NOT NULL``: a queued run enters
none of them. The dispatcher's overlap check gets an index on the unfinished runs
of each schedule only (``ix_runs_schedule_active`` replaces ``ix_runs_schedule_state``).
On a large table run this in a quiet hour (each index is rebuilt).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ACTIVE = "state IN ('queued', 'running', 'waiting_approval', 'waiting_tool')"

# name -> (columns, predicate)
PARTIAL: dict[str, tuple[list[str], str]] = {
    "ix_runs_state_lease_until": (["state", "lease_until"], "lease_until IS NOT NULL"),
    "ix_runs_state_started_at": (["state", "started_at"], "started_at IS NOT NULL"),
    "ix_runs_state_completed_at": (["state", "completed_at"], "completed_at IS NOT NULL"),
    "ix_runs_runtime_state": (["runtime_id", "state"], "runtime_id IS NOT NULL"),
    "ix_runs_graph_completed": (["graph_id", "completed_at"], "completed_at IS NOT NULL"),
    "ix_runs_completed_at": (["completed_at"], "completed_at IS NOT NULL"),
    "ix_runs_schedule_created": (["schedule_id", "created_at", "id"],
                                 "schedule_id IS NOT NULL"),
    "ix_runs_error_created": (["error_code", "created_at", "id"], "error_code IS NOT NULL"),
    "ix_runs_retry_of": (["retry_of"], "retry_of IS NOT NULL"),
}


def _create(name: str, columns: list[str], where: str | None) -> None:
    kw = {"postgresql_where": sa.text(where), "sqlite_where": sa.text(where)} if where else {}
    op.create_index(name, "runs", columns, unique=False, **kw)


def upgrade() -> None:
    for name, (columns, where) in PARTIAL.items():
        op.drop_index(name, table_name="runs")
        _create(name, columns, where)
    op.drop_index("ix_runs_schedule_state", table_name="runs")
    _create("ix_runs_schedule_active", ["schedule_id", "state"], ACTIVE)


def downgrade() -> None:
    op.drop_index("ix_runs_schedule_active", table_name="runs")
    _create("ix_runs_schedule_state", ["schedule_id", "state"], None)
    for name, (columns, _) in PARTIAL.items():
        op.drop_index(name, table_name="runs")
        _create(name, columns, None)
