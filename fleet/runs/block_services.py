"""What a run lends its blocks: credentials, artifact files and inputs, and redaction.

:func:`prepare` is called by the executor once the run's graph has validated.
It checks again that the credentials and artifacts the run names are its
owner's (they may have gone since submission), sets the run's credential ids
on their node pins, replaces artifact inputs by the files' content, and fills
the engine's :class:`~fleet.engine.services.BlockServices`:

- ``credential``: decrypts (and refreshes) a credential inside the block's execution;
  every form of its secret is then masked with ``***`` in the node's outputs and
  errors (hence in events, tracker data and run outputs) and in the process's logs;
- ``write_file``: stores a file a block writes as an artifact of the run;
- ``spill``: stores an output over the event size cap as an artifact and puts its
  reference in the event instead of a truncated preview.

``Prepared.close()`` stops masking the run's secrets in the logs.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from fleet.artifacts import refs
from fleet.artifacts import service as artifacts
from fleet.artifacts.storage import Storage, storage_for
from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.definition import GraphDef, parse
from fleet.engine.services import BlockServices
from fleet.engine.validate import resolve_inputs
from fleet.errors import InvalidInput, NotFound
from fleet.redact import SecretSet, forget, install_secret_masking, remember
from fleet.runs.owned import owned_problems
from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store.db import begin_write
from fleet.vault.checks import with_credentials
from fleet.vault.oauth import HttpTokenEndpoint, TokenEndpoint
from fleet.vault.use import CredentialResolver

log = logging.getLogger(__name__)

PREVIEW_CHARS = 256


@dataclass
class Prepared:
    """The run's graph with its credentials set, its resolved inputs and its block services."""

    graph: GraphDef
    inputs: dict[str, Any]
    services: BlockServices
    secrets: SecretSet
    _remembered: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hide(self, forms: list[str]) -> None:
        """Mask these forms of a secret in the run's data and in the process's logs."""
        with self._lock:
            self.secrets.add(*forms)
            self._remembered += forms
        remember(forms)

    def close(self) -> None:
        """Stop masking this run's secrets in the logs (its stored data is already masked)."""
        with self._lock:
            remembered, self._remembered = self._remembered, []
        forget(remembered)


class _Files:
    """Artifact writes of one run (block files and spilled outputs)."""

    def __init__(self, open_session: Callable[[], Session], *, run_id: str, user_id: str,
                 settings: Settings, clock: Callable[[], datetime],
                 storage: Callable[[], Storage], scrub: Callable[[Any], Any]) -> None:
        self.open_session = open_session
        self.run_id = run_id
        self.user_id = user_id
        self.settings = settings
        self.clock = clock
        self.storage = storage
        self.scrub = scrub

    def _put(self, name: str, data: bytes, content_type: str,
             expires_in_s: float | None) -> dict[str, Any]:
        with self.open_session() as session:
            begin_write(session, "artifact write")
            artifact = artifacts.put(session, self.clock(), storage=self.storage(),
                                     settings=self.settings, user_id=self.user_id, name=name,
                                     data=data, content_type=content_type,
                                     expires_in_s=expires_in_s, scope="run", run_id=self.run_id)
        return artifacts.ref(artifact)

    def write_file(self, node_id: str, name: str, data: bytes, content_type: str,
                   expires_in_s: float | None) -> dict[str, Any]:
        """A block's file: text is masked like any output before it is stored."""
        if content_type.startswith(("text/", "application/json")):
            with contextlib.suppress(UnicodeDecodeError):
                data = str(self.scrub(data.decode())).encode()
        return self._put(name, data, content_type, expires_in_s)

    def spill(self, node_id: str, pin: str, value: Any, size: int) -> dict[str, Any] | None:
        """An output over the event cap, stored whole; None (a truncated preview) on failure."""
        text = json.dumps(value, default=str)
        try:
            ref = self._put(f"{node_id}.{pin}.json", text.encode(), "application/json", None)
        except Exception as exc:  # the event keeps its truncated preview instead
            log.warning("run %s: output %s.%s (%d bytes) could not be stored as an artifact: "
                        "%s", self.run_id, node_id, pin, size, exc)
            return None
        return {**ref, "truncated": True, "preview": text[:PREVIEW_CHARS]}


def prepare(open_session: Callable[[], Session], run_id: str, definition: dict[str, Any],
            inputs: dict[str, Any], *, settings: Settings, registry: BlockRegistry,
            clock: Callable[[], datetime], endpoint: TokenEndpoint | None = None,
            storage: Storage | None = None, graph: GraphDef | None = None,
            owner: tuple[str, dict[str, Any]] | None = None) -> Prepared:
    """The run's graph, inputs and block services; InvalidInput / NotFound name what is gone.

    ``owner`` is the run's ``(user id, credentials)`` when the caller has them (the
    claim returns them); ``graph`` the parsed definition when it is already parsed. A
    run that names no credential and no artifact costs no database round trip here.
    """
    install_secret_masking()
    if owner is None:
        with open_session() as session:
            run = run_store.get(session, run_id, fresh=True)
            if run is None:
                raise NotFound(f"run {run_id} does not exist")
            owner = (run.user_id, dict(run.credentials or {}))
            session.commit()
    user_id, credentials = owner
    parsed = graph if graph is not None else parse(definition)[0]
    if credentials or refs.artifact_inputs(parsed, resolve_inputs(parsed, inputs)):
        with open_session() as session:
            problems = owned_problems(session, user_id=user_id, definition=definition,
                                      inputs=inputs, credentials=credentials,
                                      registry=registry, now=clock())
            session.commit()
        if problems:
            raise InvalidInput("the run's credentials or artifacts are no longer usable: "
                               + "; ".join(problems), problems)
    graph = parse(with_credentials(definition, credentials))[0] if credentials else parsed
    built: list[Storage] = [storage] if storage is not None else []

    def get_storage() -> Storage:
        if not built:
            built.append(storage_for(settings))
        return built[0]

    values = resolve_inputs(graph, inputs)
    if refs.artifact_inputs(graph, values):
        with open_session() as session:
            values = refs.resolve(session, clock(), storage=get_storage(), user_id=user_id,
                                  graph=graph, inputs=values)
            session.rollback()
    secrets = SecretSet()
    prepared = Prepared(graph=graph, inputs=values, services=BlockServices(), secrets=secrets)
    files = _Files(open_session, run_id=run_id, user_id=user_id, settings=settings,
                   clock=clock, storage=get_storage, scrub=secrets.scrub)
    prepared.services = BlockServices(
        credential=CredentialResolver(open_session, user_id=user_id, settings=settings,
                                      clock=clock, endpoint=endpoint or HttpTokenEndpoint(),
                                      on_secret=prepared.hide),
        write_file=files.write_file, scrub=secrets.scrub, spill=files.spill)
    return prepared
