"""The API's run detail and the dashboard's run page give the run's cost, each node
execution's cost and the correctness score."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from fleet.engine.blocks.registry import default_registry
from fleet.graphs.files import load_graph_file
from fleet.graphs.service import add_graph
from fleet.runs.inline import run_inline
from fleet.runs.submit import submit
from tests.integration.web.support import EXAMPLES, Web, make_web
from tests.integration.web.test_dashboard import sign_in


@pytest.fixture
def web(db_url: str, now: datetime, tmp_path: Path) -> Iterator[Web]:
    w = make_web(db_url, now, artifacts_url=str(tmp_path / "artifacts"))
    yield w
    w.client.close()
    w.engine.dispose()


def _graded_run(web: Web, answer: str) -> str:
    registry, settings, now = default_registry(), web.settings, web.clock()
    with web.session() as s:
        add_graph(s, load_graph_file(EXAMPLES / "graded.yaml"), "alice", now, registry,
                  settings=settings)
        run_id = submit(s, graph_id="graded", version=None, inputs={"answer": answer},
                        user_id="alice", now=now, send=web.sender, registry=registry,
                        settings=settings).id
    out = run_inline(web.session, run_id, registry=registry, settings=settings,
                     clock=web.clock)
    assert out.state == "completed", out.error
    return run_id


def test_run_detail_and_page_show_costs_and_score(web: Web) -> None:
    run_id = _graded_run(web, "Lutetia")
    d = web.get("viewer", f"/api/v1/runs/{run_id}").json()
    assert d["run"]["cost"] == 1.0 and d["run"]["correctness_score"] == 0.8
    assert {n["node_id"]: n["cost"] for n in d["nodes"]} == {
        "grade": 0.0, "report": 0.0, "keep": 1.0}
    sign_in(web, "admin")
    page = web.client.get(f"/runs/{run_id}").text
    assert "<dt>cost</dt><dd>1</dd>" in page
    assert "<dt>correctness score</dt><dd>0.8</dd>" in page
