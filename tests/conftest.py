"""Shared fixtures: databases (SQLite and PostgreSQL), Redis, settings, a fixed clock.

Integration servers are throwaway ones started here (or the URLs given in
``FLEET_TEST_POSTGRES_URL`` / ``FLEET_TEST_REDIS_URL``). A missing server skips
its tests locally and fails them under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, SQLModel

from fleet.settings import Settings
from fleet.store import migrate
from fleet.store.db import make_engine
from fleet.testing.servers import (
    PostgresServer,
    RedisServer,
    ServerUnavailable,
    start_postgres,
    start_redis,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and a required server is unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL database for the session, migrated to head."""
    try:
        server = start_postgres()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
        raise
    try:
        migrate.upgrade(server.url)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of the session's migrated PostgreSQL database."""
    return postgres_server.url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the session."""
    try:
        server = start_redis()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
        raise
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of an emptied Redis database."""
    import redis

    redis_server.start()  # a test may have stopped it
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty migrated database: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "fleet.sqlite"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    _truncate_all(engine)
    engine.dispose()
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's database."""
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the test's database."""
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Default settings pointed at the test's database (and artifacts in the test's tmp dir)."""
    return Settings(database_url=db_url, artifacts_url=str(tmp_path / "artifacts"),
                    _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
def now() -> datetime:
    """A fixed instant for tests that inject the clock."""
    return datetime(2026, 3, 2, 12, 0, 0, tzinfo=UTC)
