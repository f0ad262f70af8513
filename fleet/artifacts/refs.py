"""Artifacts in graph inputs: checked when a run is submitted, resolved when it executes.

A graph input of type ``artifact`` takes a reference ``{"artifact": ID}``. At
submission the artifact must exist, belong to the submitting user and not be
expired; at execution the block bound to the input receives the file's
content: parsed JSON for ``application/json``, text for ``text/*``, otherwise
``{"artifact", "name", "content_type", "size", "base64"}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.artifacts.service import owned
from fleet.artifacts.storage import Storage
from fleet.engine.definition import GraphDef, artifact_ref_id, parse
from fleet.errors import NotFound
from fleet.store.models import Artifact


def artifact_inputs(graph: GraphDef, inputs: Mapping[str, Any]) -> dict[str, str]:
    """``input name -> artifact id`` of the graph's artifact inputs that were given."""
    found: dict[str, str] = {}
    for name, gi in graph.inputs.items():
        ref_id = artifact_ref_id(inputs.get(name)) if gi.type == "artifact" else None
        if ref_id is not None:
            found[name] = ref_id
    return found


def artifact_problems(session: Session, *, user_id: str, definition: dict[str, Any],
                      inputs: Any, now: datetime) -> list[str]:
    """Every artifact input naming an artifact the user does not have (or that expired)."""
    if not isinstance(inputs, dict):
        return []
    graph, _ = parse(definition)
    problems = []
    for name, artifact_id in artifact_inputs(graph, inputs).items():
        try:
            owned(session, user_id, artifact_id, now)
        except NotFound as exc:
            problems.append(f"input '{name}': {exc.message}")
    return problems


def content(artifact: Artifact, data: bytes) -> Any:
    """What a block receives for an artifact input."""
    kind = artifact.content_type.split(";")[0].strip().lower()
    try:
        if kind == "application/json":
            return json.loads(data)
        if kind.startswith("text/"):
            return data.decode()
    except (UnicodeDecodeError, ValueError):
        pass
    return {"artifact": artifact.id, "name": artifact.name,
            "content_type": artifact.content_type, "size": artifact.size,
            "base64": base64.b64encode(data).decode()}


def resolve(session: Session, now: datetime, *, storage: Storage, user_id: str,
            graph: GraphDef, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with each artifact reference replaced by the file's content.

    NotFound (naming the input) when an artifact is gone, foreign or expired.
    """
    refs = artifact_inputs(graph, inputs)
    if not refs:
        return inputs
    resolved = dict(inputs)
    for name, artifact_id in refs.items():
        try:
            artifact = owned(session, user_id, artifact_id, now)
        except NotFound as exc:
            raise NotFound(f"input '{name}': {exc.message}") from None
        resolved[name] = content(artifact, storage.get(artifact.storage_key))
    return resolved
