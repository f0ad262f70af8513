"""The monitors read what executed runs wrote: scores drive accuracy, costs reach the summary.

Runs here are executed by the durable executor (``run_inline``), not planted rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session

from fleet.engine.blocks.base import Block, BlockContext
from fleet.engine.blocks.registry import BlockRegistry, builtin_blocks
from fleet.graphs.service import add_graph
from fleet.ports import JobContext
from fleet.runs.inline import run_inline
from fleet.settings import Settings
from fleet.store import runs as run_store
from fleet.store.db import session_factory
from fleet.store.models import Run
from fleet.sweeps import accuracy, weekly_summary
from fleet.testing.alerts import RecordingChannel
from tests.helpers import make_run


class Grader(Block):
    """Passes a grade on; each grading costs 0.5."""

    id = "grader"
    description = "A billed grader."
    cost = 0.5

    class Input(BaseModel):
        grade: Any = None

    class Output(BaseModel):
        grade: Any = None

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "grade", inputs.grade


GRADED = {
    "id": "graded",
    "inputs": {"grade": {"type": "number", "targets": ["grade.grade"]}},
    "nodes": [{"id": "grade", "block": "grader"},
              {"id": "note", "block": "template", "inputs": {"template": "graded {value}"}}],
    "links": [{"source": "grade.grade", "sink": "note.value"}],
    "outputs": {"score": "grade.grade", "note": "note.text"},
    "score_output": "score",
}


@pytest.fixture
def registry() -> BlockRegistry:
    return BlockRegistry([*builtin_blocks(), Grader])


def _execute(session: Session, engine: Engine, registry: BlockRegistry, settings: Settings,
             at: datetime, grade: float, user: str = "alice") -> Run:
    graph = add_graph(session, GRADED, user, at, registry, settings=settings)
    run = make_run(session, at, user_id=user, graph_id=graph.id, graph_version=graph.version,
                   inputs={"grade": grade})
    out = run_inline(session_factory(engine), run.id, registry=registry, settings=settings,
                     clock=lambda: at)
    assert out.state == "completed", out.error
    session.expire_all()
    row = run_store.get(session, run.id)
    assert row is not None
    return row


def test_accuracy_alerts_when_scores_drop_while_every_run_succeeds(
        session: Session, engine: Engine, registry: BlockRegistry, settings: Settings,
        now: datetime, ctx: JobContext, channel: RecordingChannel) -> None:
    for back in range(7):
        for _ in range(4):
            row = _execute(session, engine, registry, settings,
                           now - timedelta(days=back, hours=1), 0.9 if back >= 3 else 0.6)
            assert row.state == "completed" and row.correctness_score is not None
    report = accuracy.run_once(session, now, ctx)
    [g] = report.graphs
    assert g.measure == "correctness score" and report.alerting == ["graded"]
    assert g.short_avg == pytest.approx(0.6)
    assert g.long_avg == pytest.approx((0.9 * 4 + 0.6 * 3) / 7)
    assert len(channel.sent) == 1 and "(correctness score)" in channel.sent[0].body
    # The same runs read as success rates would be a steady 100 %: no alert.
    rates = [accuracy.day_value(d, scored=False) for d in
             accuracy.monitors.daily_outcomes(session, now - timedelta(days=30), now)]
    assert rates and set(rates) == {1.0}


def test_weekly_summary_reports_the_costs_runs_incurred(
        session: Session, engine: Engine, registry: BlockRegistry, settings: Settings,
        now: datetime, ctx: JobContext) -> None:
    day = now - timedelta(days=2)
    runs = [_execute(session, engine, registry, settings, day, g) for g in (0.5, 1.0, 0.25)]
    assert [r.cost for r in runs] == [0.5, 0.5, 0.5]
    make_run(session, day, user_id="alice", graph_id="free", state="completed",
             completed_at=day)
    report = weekly_summary.run_once(session, now, ctx)
    assert report.sent == ["alice"]
    assert "- cost: 1.50 (most by graded: 1.50)" in report.users["alice"]
