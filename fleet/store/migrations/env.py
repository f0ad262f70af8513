"""Alembic environment: the URL comes from fleet's settings, passed by fleet.store.migrate."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlmodel import SQLModel

import fleet.store.models  # noqa: F401  (registers every table)
from fleet.store.db import is_sqlite, make_engine
from fleet.store.fulltext import include_name, include_object
from fleet.store.types import UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> Any:
    # Migrations must not import fleet's column types: render the stored type.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    if type_ == "type" and obj.__class__.__name__ == "AutoString":
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def run_migrations_online() -> None:
    url = str(config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url"))
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection, is_sqlite(str(connection.engine.url)))
        return
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn, is_sqlite(url))
    engine.dispose()


def _run(connection: Any, sqlite: bool) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        render_item=_render_item,
        compare_type=True,
        # The full-text index is created by hand per dialect (0005): not in the models.
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
