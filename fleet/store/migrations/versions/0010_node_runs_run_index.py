"""node_runs: drop ix_node_runs_run_id, which the unique (run_id, exec_key) index covers

Revision ID: 0010
Revises: 0009

Every lookup of a run's node runs (replay, the run detail, the cascade when a
run is deleted) can read ``uq_node_runs_exec_key``, whose first column is
``run_id``. The index on ``run_id`` alone only cost each node run one more index
entry (three per run of a 3-node graph, of about 64 a run writes).
"""

from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_node_runs_run_id", table_name="node_runs")


def downgrade() -> None:
    op.create_index("ix_node_runs_run_id", "node_runs", ["run_id"], unique=False)
