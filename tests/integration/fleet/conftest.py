"""Fixtures for the fleet process tests: a clean PostgreSQL, Redis and worker processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from fleet.ports import RunSender
from fleet.settings import Settings
from fleet.store.db import make_engine
from fleet.worker.broker import build_broker, make_sender
from tests.integration.fleet.procs import FAST_ENV, Workers, truncate


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL, emptied first."""
    engine = make_engine(postgres_url)
    truncate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def fleet_settings(postgres_url: str, redis_url: str) -> Settings:
    """Settings of the test process itself (same database and Redis as the workers)."""
    return Settings(database_url=postgres_url, redis_url=redis_url,  # type: ignore[call-arg]
                    _env_file=None, **{k[6:].lower(): v for k, v in FAST_ENV.items()})


@pytest.fixture
def sender(fleet_settings: Settings) -> Iterator[RunSender]:
    """Sends execute_graph messages to the Redis broker."""
    broker = build_broker(fleet_settings)
    yield make_sender(broker, fleet_settings.queue_name)
    broker.close()


@pytest.fixture
def workers(postgres_url: str, redis_url: str, pg_engine: Engine,
            tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """A factory of worker-process sets; every process is killed at the end."""
    made: list[Workers] = []

    def _make(extra_env: dict[str, str] | None = None) -> Workers:
        w = Workers(postgres_url, redis_url, {**FAST_ENV, **(extra_env or {})}, tmp_path)
        made.append(w)
        return w

    yield _make
    for w in made:
        w.stop_all()
