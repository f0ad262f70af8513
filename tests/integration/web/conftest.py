"""Fixtures of the web tests: an app per test on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.integration.web.support import Web, make_web, seed_user


@pytest.fixture
def web(db_url: str, now: datetime) -> Iterator[Web]:
    """The app on the test's database, with a token per role."""
    w = make_web(db_url, now)
    yield w
    w.client.close()
    w.engine.dispose()


@pytest.fixture
def seeded(web: Web) -> dict[str, dict[str, str]]:
    """alice's, bob's and carol's (the admin's) objects: graphs, a schedule, queued,
    completed and waiting runs."""
    return {user: seed_user(web, user) for user in ("alice", "bob", "carol")}
