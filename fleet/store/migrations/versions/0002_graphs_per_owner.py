"""graph ids per owner; runs remember the run they retry

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_COLUMNS = ("user_id", "id", "version", "name", "description", "definition", "timeout_s",
            "max_attempts", "is_active", "is_archived", "created_at", "updated_at")


def upgrade() -> None:
    # A new primary key: rebuild the table (the same way on SQLite and PostgreSQL).
    op.create_table(
        "graphs_new",
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.String(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "id", "version"),
    )
    cols = ", ".join(_COLUMNS)
    op.execute(f"INSERT INTO graphs_new ({cols}) SELECT {cols} FROM graphs")
    op.drop_index("ix_graphs_user_id", table_name="graphs")
    op.drop_table("graphs")
    op.rename_table("graphs_new", "graphs")
    op.create_index("ix_graphs_user_active", "graphs", ["user_id", "is_active", "updated_at"])
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("retry_of", sa.String(length=64), nullable=True))


def downgrade() -> None:
    raise NotImplementedError("0002 cannot be downgraded: graph ids became per owner")
