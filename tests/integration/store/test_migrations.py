"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import fleet.store.models  # noqa: F401
from fleet.store import migrate
from fleet.store.fulltext import include_name, include_object


def test_migrated_schema_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_name": include_name,
            "include_object": include_object})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == [], (
        "models and migrations differ; run `python scripts/regen_initial_migration.py` "
        f"(before the first release) or add a migration: {diff}"
    )


def test_database_is_at_head(engine: Engine) -> None:
    assert migrate.current_revision(engine) == migrate.head_revision()


def test_upgrade_is_idempotent(db_url: str) -> None:
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.is_current(db_url)
