"""Rebuild ``dev.sqlite.example``: the SQLite database ``fleet dev`` starts from.

    python scripts/build_dev_sqlite.py            # writes ./dev.sqlite.example

It is migrated to the latest revision and holds the demo graphs of
``examples/`` (owned by the user ``demo``) and one demo schedule that fires
every minute. Run it again after any migration change:
``tests/e2e/test_dev.py`` fails while the file is behind the migrations.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEMO_USER = "demo"
DEMO_SCHEDULE_GRAPH = "hello"
GRAPH_SUFFIXES = (".json", ".yaml", ".yml")

# Used only when examples/ holds no graph file, so the dev database always has one.
FALLBACK_GRAPH: dict[str, Any] = {
    "id": "hello",
    "name": "Hello",
    "description": "Greets someone: a constant, a short delay and a template.",
    "inputs": {"who": {"type": "string", "default": "world", "targets": ["name.value"]}},
    "nodes": [
        {"id": "name", "block": "constant"},
        {"id": "pause", "block": "delay", "inputs": {"seconds": 0.2}},
        {"id": "greet", "block": "template", "inputs": {"template": "Hello {value}!"}},
    ],
    "links": [{"source": "name.value", "sink": "pause.value"},
              {"source": "pause.value", "sink": "greet.value"}],
}


def graph_definitions(examples: Path) -> list[dict[str, Any]]:
    """Every graph file in ``examples`` (sorted), or the fallback demo graph."""
    from fleet.graphs.files import load_graph_file

    files = sorted(p for p in examples.glob("*") if p.suffix in GRAPH_SUFFIXES) \
        if examples.is_dir() else []
    return [load_graph_file(p) for p in files] or [FALLBACK_GRAPH]


def build(out: Path, examples: Path, now: datetime | None = None) -> dict[str, Any]:
    """Write a fresh database at ``out``; returns what it holds."""
    from sqlmodel import Session

    from fleet.engine.blocks.registry import default_registry
    from fleet.graphs.service import add_graph
    from fleet.scheduling import service as schedules
    from fleet.settings import Settings
    from fleet.store import migrate
    from fleet.store.db import make_engine

    now = now or datetime.now(UTC)
    tmp = out.with_suffix(".building")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    url = f"sqlite:///{tmp}"
    migrate.upgrade(url)
    engine = make_engine(url)
    registry = default_registry()
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    graph_ids: list[str] = []
    with Session(engine, expire_on_commit=False) as session:
        for definition in graph_definitions(examples):
            graph_ids.append(add_graph(session, definition, DEMO_USER, now, registry,
                                       settings=settings).id)
        # The demo schedule needs a graph that completes on its own (not approval).
        demo_graph = DEMO_SCHEDULE_GRAPH if DEMO_SCHEDULE_GRAPH in graph_ids else graph_ids[0]
        schedule = schedules.add(
            session, now, settings=settings, registry=registry, user_id=DEMO_USER,
            graph_id=demo_graph, cron_expr="* * * * *",
            # With the default catch-up (latest, 1 h), a fresh clone fires the demo
            # once at first start; older instants are recorded as missed (bounded).
            name="demo: every minute")
        session.commit()
        schedule_id = schedule.id
    revision = migrate.current_revision(engine)
    engine.dispose()
    raw = sqlite3.connect(tmp, isolation_level=None)  # fold the WAL into the file we ship
    try:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.execute("PRAGMA journal_mode=DELETE")
    finally:
        raw.close()
    tmp.replace(out)
    return {"path": str(out), "revision": revision, "graphs": graph_ids,
            "schedule": schedule_id}


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "dev.sqlite.example")
    parser.add_argument("--examples", type=Path, default=ROOT / "examples")
    args = parser.parse_args(argv)
    info = build(args.out, args.examples)
    print(f"wrote {info['path']} at revision {info['revision']}: graphs "
          f"{', '.join(info['graphs'])}; schedule {info['schedule']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
