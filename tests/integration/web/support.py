"""Helpers of the web tests: an app on the test database, tokens per role, seeded objects,
and a dump of the whole database to prove that a refused call changed nothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlmodel import Session, SQLModel

import fleet.store.models  # noqa: F401  (every table)
from fleet.engine.blocks.registry import default_registry
from fleet.graphs.files import load_graph_file
from fleet.graphs.service import add_graph
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from fleet.scheduling import service as schedules
from fleet.settings import Settings
from fleet.testing import FixedClock, RecordingSender
from fleet.tokens import service as tokens
from fleet.web.app import create_app

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
HELLO = load_graph_file(EXAMPLES / "hello.yaml")
APPROVAL = load_graph_file(EXAMPLES / "approval.yaml")

# Who calls: alice with each role, and an admin (carol). bob owns the "other" objects.
PRINCIPALS = {"viewer": ("alice", "viewer"), "operator": ("alice", "operator"),
              "admin": ("carol", "admin")}


@dataclass
class Web:
    """An app on the test database with a hand-moved clock and a recording sender."""

    client: TestClient
    engine: Engine
    settings: Settings
    clock: FixedClock
    sender: RecordingSender
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        """The bearer header of ``who`` (a key of PRINCIPALS or of ``tokens``)."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def get(self, who: str, url: str, **kw: Any) -> Any:
        """GET as ``who``."""
        return self.client.get(url, headers=self.headers(who), **kw)

    def post(self, who: str, url: str, **kw: Any) -> Any:
        """POST as ``who``."""
        return self.client.post(url, headers={**self.headers(who), **kw.pop("headers", {})},
                                **kw)

    def delete(self, who: str, url: str) -> Any:
        """DELETE as ``who``."""
        return self.client.delete(url, headers=self.headers(who))

    def session(self) -> Session:
        """A session on the test database."""
        return Session(self.engine, expire_on_commit=False)

    def token(self, name: str, user: str, role: str, expires_in: timedelta | None = None) -> str:
        """Create a token and remember it under ``name``."""
        with self.session() as s:
            new = tokens.create(s, user_id=user, role=role, now=self.clock(),
                                expires_in=expires_in)
        self.tokens[name] = new.secret
        return new.secret


def make_web(db_url: str, now: datetime, **overrides: Any) -> Web:
    """A Web on ``db_url`` with tokens for every PRINCIPALS entry."""
    settings = Settings(database_url=db_url, _env_file=None,  # type: ignore[call-arg]
                        web_session_secret="test-secret", **overrides)
    from fleet.store.db import make_engine

    engine = make_engine(db_url)
    clock = FixedClock(now)
    sender = RecordingSender()
    app = create_app(settings, engine=engine, send=sender, clock=clock,
                     snapshot_background=False)
    web = Web(TestClient(app), engine, settings, clock, sender)
    for name, (user, role) in PRINCIPALS.items():
        web.token(name, user, role)
    return web


def seed_user(web: Web, user: str) -> dict[str, str]:
    """A user's graphs, a schedule and runs in several states; their ids."""
    registry, settings, now = default_registry(), web.settings, web.clock()
    ids: dict[str, str] = {}
    with web.session() as s:
        add_graph(s, HELLO, user, now, registry, settings=settings)
        add_graph(s, APPROVAL, user, now, registry, settings=settings)
        sched = schedules.add(s, now, settings=settings, registry=registry, user_id=user,
                              graph_id="hello", cron_expr="0 9 * * *",
                              timezone="Europe/Paris", name=f"{user} daily")
        ids["schedule"] = sched.id
        for name in ("queued", "done", "waiting", "waiting2"):
            graph = "approval-demo" if name.startswith("waiting") else "hello"
            ids[name] = submit(s, graph_id=graph, version=None, inputs={}, user_id=user,
                               now=now, send=web.sender, registry=registry,
                               settings=settings).id
    for name in ("done", "waiting", "waiting2"):
        run_inline(web.session, ids[name], registry=registry, settings=settings,
                   clock=web.clock)
    return ids


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted (the audit of token use excluded)."""
    found: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            cols = [c for c in table.columns
                    if not (table.name == "api_tokens" and c.name == "last_used_at")]
            rows = conn.execute(select(*cols)).all()
            found[table.name] = sorted(tuple(repr(v) for v in r) for r in rows)
    return found
