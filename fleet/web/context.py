"""What every request of the web process shares: settings, the engine, the ports, the clock.

Built once by :func:`fleet.web.app.create_app` (the entry point) and stored on the app;
handlers read the clock here, once per request, and pass ``now`` down to services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session

from fleet.engine.blocks.registry import BlockRegistry
from fleet.ports import Liveness, RunSender
from fleet.settings import Settings
from fleet.web.snapshot import SharedSnapshot


@dataclass
class WebContext:
    """The web process's settings and ports."""

    settings: Settings
    engine: Engine
    send: RunSender
    registry: BlockRegistry
    clock: Callable[[], datetime]
    snapshot: SharedSnapshot
    session_secret: str
    liveness: Liveness | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session on the store, closed (and rolled back) at the end."""
        with Session(self.engine, expire_on_commit=False) as s:
            yield s
