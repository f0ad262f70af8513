"""The graph service: read graph files, add validated versions, archive and delete."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.validate import validate_graph
from fleet.errors import InvalidInput, NotAuthorized, NotFound
from fleet.settings import Settings
from fleet.store import graphs as store
from fleet.store.models import Graph

DEFAULT_TIMEOUT_S = float(Graph.model_fields["timeout_s"].default)
DEFAULT_MAX_ATTEMPTS = int(Graph.model_fields["max_attempts"].default)


def load_graph_file(path: str | Path) -> dict[str, Any]:
    """Read a graph definition from a JSON or YAML file (by extension, else either)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read graph file {p}: {exc.strerror or exc}") from None
    is_json = p.suffix.lower() == ".json"
    try:
        # YAML is a superset of JSON, so other extensions read either.
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if is_json else "YAML"
        raise InvalidInput(f"graph file {p} is not valid {kind}", [str(exc)]) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"graph file {p} must hold a mapping (id, nodes, links, ...), "
                           f"not {type(data).__name__}")
    return data


def _owned_versions(session: Session, graph_id: str, user_id: str, action: str) -> list[Graph]:
    versions = store.versions(session, graph_id)
    if not versions:
        raise NotFound(f"graph {graph_id} does not exist")
    if versions[-1].user_id != user_id:
        raise NotAuthorized(f"graph {graph_id} belongs to another user; only its owner may "
                            f"{action} it")
    return versions


def add_graph(session: Session, definition: dict[str, Any], user_id: str, now: datetime,
              registry: BlockRegistry, *, settings: Settings | None = None) -> Graph:
    """Validate ``definition`` and store it as the graph's active version; commits.

    A definition without ``timeout_s`` / ``max_attempts`` gets the defaults of
    ``settings`` (FLEET_DEFAULT_GRAPH_TIMEOUT_S, FLEET_DEFAULT_MAX_ATTEMPTS).

    An unchanged definition returns the current version; a changed one adds a
    new version. A graph id owned by someone else is refused.
    """
    validate_graph(definition, registry)
    graph_id = definition["id"]
    existing = store.versions(session, graph_id)
    if existing and existing[-1].user_id != user_id:
        raise NotAuthorized(f"graph id {graph_id} is taken by another user; choose another id")
    try:
        graph = store.add_version(
            session, graph_id=graph_id, user_id=user_id,
            name=str(definition.get("name") or graph_id),
            description=str(definition.get("description") or ""),
            definition=definition,
            timeout_s=float(definition.get("timeout_s") or (
                settings.default_graph_timeout_s if settings else DEFAULT_TIMEOUT_S)),
            max_attempts=int(definition.get("max_attempts") or (
                settings.default_max_attempts if settings else DEFAULT_MAX_ATTEMPTS)),
            now=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return graph


def delete_graph(session: Session, graph_id: str, user_id: str, now: datetime) -> int:
    """Delete every version of ``graph_id`` and its schedules; returns versions deleted."""
    return _remove(session, graph_id, user_id, now, "delete",
                   lambda: store.delete(session, graph_id))


def archive_graph(session: Session, graph_id: str, user_id: str, now: datetime) -> int:
    """Archive every version of ``graph_id`` and remove its schedules; returns rows changed."""
    return _remove(session, graph_id, user_id, now, "archive",
                   lambda: store.set_archived(session, graph_id, True, now))


def _remove(session: Session, graph_id: str, user_id: str, now: datetime, verb: str,
            apply: Callable[[], int]) -> int:
    """Owner check, then the graph's schedules go and ``apply`` runs, in one commit."""
    from fleet.scheduling.service import remove_for_graph

    _owned_versions(session, graph_id, user_id, verb)
    try:
        remove_for_graph(session, graph_id, now, f"{verb}d")
        count = apply()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return count
