"""The full-text objects the migration creates outside the models, by dialect.

PostgreSQL: a generated ``tsvector`` column on ``search_entries`` and its GIN
index. SQLite: the FTS5 table ``search_fts`` (with its shadow tables) and the
triggers that keep it in step with ``search_entries``. The models cannot
describe them, so the schema comparison (``alembic`` autogenerate and the
migration test) leaves them out through :func:`include_name` and
:func:`include_object`.
"""

from __future__ import annotations

from typing import Any

PG_VECTOR_COLUMN = "search_vector"
PG_VECTOR_INDEX = "ix_search_entries_vector"
SQLITE_FTS_TABLE = "search_fts"


def _outside_models(name: str | None, type_: str) -> bool:
    if not name:
        return False
    if type_ == "table":
        return name == SQLITE_FTS_TABLE or name.startswith(SQLITE_FTS_TABLE + "_")
    if type_ == "column":
        return name == PG_VECTOR_COLUMN
    if type_ == "index":
        return name == PG_VECTOR_INDEX
    return False


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: skip the full-text tables before they are reflected."""
    return not _outside_models(name, type_)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: skip the full-text column, index and tables."""
    return not (reflected and compare_to is None and _outside_models(name, type_))
