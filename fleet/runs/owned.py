"""What a run may use that belongs to its owner: credentials and artifact inputs.

Checked with the graph and the inputs (:mod:`fleet.runs.checks`, which needs
no database) when a run is submitted or retried, when a schedule is added,
resumed or run now, and again when a worker starts the run. A missing and a
foreign credential or artifact read the same, each naming its node and input.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.artifacts.refs import artifact_problems
from fleet.engine.blocks.registry import BlockRegistry
from fleet.vault.checks import credential_problems


def owned_problems(session: Session, *, user_id: str, definition: dict[str, Any], inputs: Any,
                   credentials: Any, registry: BlockRegistry, now: datetime) -> list[str]:
    """Every problem with the credentials and artifacts the run would use, each prefixed."""
    found = [f"credentials: {p}" for p in credential_problems(
        session, user_id=user_id, definition=definition,
        inputs=inputs if isinstance(inputs, dict) else {}, credentials=credentials,
        registry=registry)]
    found += [f"inputs: {p}" for p in artifact_problems(
        session, user_id=user_id, definition=definition, inputs=inputs, now=now)]
    return found
