"""node_runs: node_attempt, the attempt of a node under its retry policy

Revision ID: 0008
Revises: 0007

A node with a retry policy (``retry: {max_attempts, backoff_s, ...}`` in the graph
file) is executed again when it fails; every attempt is a node run, numbered by
``node_attempt`` (1 for the first, and for every node run written before).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('node_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('node_attempt', sa.Integer(), nullable=False,
                                      server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('node_runs', schema=None) as batch_op:
        batch_op.drop_column('node_attempt')
