"""run_events.id and audit_entries.id become 64-bit

Revision ID: 0006
Revises: 0005

At 1 M runs a day with about five events each, a 32-bit serial runs out in about
430 days (retention frees rows, not ids). SQLite's INTEGER is already 64-bit, so
this only changes PostgreSQL (a table rewrite: run it in a quiet hour on a large table).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

_TABLES = ("run_events", "audit_entries")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.alter_column(table, "id", type_=sa.BigInteger(), existing_type=sa.Integer(),
                        existing_nullable=False)
        op.execute(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS bigint")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in _TABLES:
        op.execute(f"ALTER SEQUENCE IF EXISTS {table}_id_seq AS integer")
        op.alter_column(table, "id", type_=sa.Integer(), existing_type=sa.BigInteger(),
                        existing_nullable=False)
