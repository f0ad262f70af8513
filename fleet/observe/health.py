"""Is the store ready: reachable, and at the migration this version of fleet expects."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Session

from fleet.store import migrate


def store_ready(session: Session) -> tuple[bool, str]:
    """``(ready, what was found)``; never raises."""
    try:
        session.execute(text("SELECT 1"))
        bind = session.get_bind()
        engine = getattr(bind, "engine", bind)
        current = migrate.current_revision(engine)  # type: ignore[arg-type]
        session.commit()
    except Exception as exc:  # any failure means not ready; say which
        session.rollback()
        return False, f"database unreachable: {type(exc).__name__}"
    head = migrate.head_revision()
    if current != head:
        return False, f"database at migration {current}, expected {head}: run `fleet db upgrade`"
    return True, f"database at migration {current}"
