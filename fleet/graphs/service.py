"""The graph service: add validated versions, archive and delete (with their schedules).

Graph ids are per owner. Deleting or archiving a graph removes its schedules
in the same transaction (SPEC §3); each removal is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.validate import validate_graph
from fleet.errors import NotFound
from fleet.settings import Settings
from fleet.store import graphs as store
from fleet.store import schedules as schedule_store
from fleet.store.db import write_transaction
from fleet.store.models import Graph

log = logging.getLogger(__name__)


def owned_versions(session: Session, user_id: str, graph_id: str) -> list[Graph]:
    """Every version of the user's graph; NotFound (also for another user's id) otherwise."""
    versions = store.versions(session, user_id, graph_id)
    if not versions:
        raise NotFound(f"graph {graph_id} does not exist for user '{user_id}'; see "
                       "`fleet graphs list`")
    return versions


def get(session: Session, user_id: str, graph_id: str, version: int | None = None) -> Graph:
    """One of the user's graph versions (the active one by default), or NotFound."""
    graph = store.get(session, user_id, graph_id, version)
    if graph is None:
        raise NotFound(f"graph {graph_id}" + (f" version {version}" if version else "")
                       + f" does not exist for user '{user_id}'; see `fleet graphs list`")
    return graph


def latest_version(session: Session, user_id: str, graph_id: str) -> int:
    """The highest version of the user's graph (0 when there is none)."""
    return store.latest_version(session, user_id, graph_id)


def add_graph(session: Session, definition: dict[str, Any], user_id: str, now: datetime,
              registry: BlockRegistry, *, settings: Settings) -> Graph:
    """Validate ``definition`` and store it as the user's graph's active version; commits.

    A definition without
    ``timeout_s`` / ``max_attempts`` gets FLEET_DEFAULT_GRAPH_TIMEOUT_S /
    FLEET_DEFAULT_MAX_ATTEMPTS. An unchanged definition returns the current version.
    """
    validate_graph(definition, registry)
    graph_id = definition["id"]
    write_transaction(session, "graph add")  # it reads the latest version, then inserts
    try:
        graph = store.add_version(
            session, graph_id=graph_id, user_id=user_id,
            name=str(definition.get("name") or graph_id),
            description=str(definition.get("description") or ""),
            definition=definition,
            timeout_s=float(definition.get("timeout_s") or settings.default_graph_timeout_s),
            max_attempts=int(definition.get("max_attempts") or settings.default_max_attempts),
            now=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return graph


def delete_graph(session: Session, user_id: str, graph_id: str, now: datetime) -> int:
    """Delete every version of the user's graph and its schedules; returns versions deleted."""
    return _remove(session, user_id, graph_id, now, "deleted",
                   lambda: store.delete(session, user_id, graph_id))


def archive_graph(session: Session, user_id: str, graph_id: str, now: datetime) -> int:
    """Archive every version of the user's graph and remove its schedules; returns versions."""
    return _remove(session, user_id, graph_id, now, "archived",
                   lambda: store.set_archived(session, user_id, graph_id, True, now))


def _remove(session: Session, user_id: str, graph_id: str, now: datetime, what: str,
            apply: Callable[[], int]) -> int:
    """Owner check, then the graph's schedules go and ``apply`` runs, in one commit."""
    write_transaction(session, f"graph {what}")
    owned_versions(session, user_id, graph_id)
    try:
        removed = schedule_store.ids_for_graph(session, user_id, graph_id)
        schedule_store.delete_ids(session, removed)
        count = apply()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    for schedule_id in removed:
        log.warning("schedule %s removed at %s: graph %s %s", schedule_id, now.isoformat(),
                    graph_id, what)
    return count
