"""Costs and scores on the command line: `blocks list|show` give each block's cost
declaration (plug-ins' too), `runs show` the run's cost, each node's and the score."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from fleet.engine.blocks import registry as registry_module
from fleet.engine.blocks.base import Block, BlockContext
from tests.integration.cli.conftest import Fleet, InlineWorker


class Summarise(Block):
    """A plug-in block whose cost depends on its input."""

    id = "summarise"
    description = "Pretends to call a language model."

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        summary: str

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        yield "summary", inputs.text[:10]

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """0.002 per 1 000 input characters."""
        return 0.002 * len(inputs.text) / 1000


class Overpriced(Summarise):
    id = "overpriced"
    cost = -3  # refused: the plug-in is skipped, the rest loads


class _EntryPoint:
    def __init__(self, name: str, obj: Any) -> None:
        self.name, self.value, self._obj = name, f"pkg:{name}", obj

    def load(self) -> Any:
        return self._obj


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [
        _EntryPoint("llm", [Summarise]), _EntryPoint("bad", Overpriced)])


def test_blocks_show_their_cost_declarations(fleet: Fleet, plugins: None,
                                             caplog: pytest.LogCaptureFixture) -> None:
    listed = {b["id"]: b["cost"] for b in fleet("blocks", "list", "--json").json()}
    assert listed["template"] == {"kind": "fixed", "amount": 0.0, "description": ""}
    assert listed["http_request"] == {"kind": "fixed", "amount": 1.0, "description": ""}
    assert listed["write_file"] == {"kind": "computed", "amount": None,
                                    "description": "1 per started MiB stored (a failed write "
                                                   "costs nothing)."}
    assert listed["summarise"] == {"kind": "computed", "amount": None,
                                   "description": "0.002 per 1 000 input characters."}
    assert "overpriced" not in listed
    assert "block 'overpriced': cost must be a finite number >= 0, got -3" in caplog.text
    table = fleet("blocks", "list").flat
    assert "cost" in table and "computed" in table
    assert "cost: 1 per execution" in fleet("blocks", "show", "http_request").flat
    assert ("cost: computed from inputs and outputs: 0.002 per 1 000 input characters."
            in fleet("blocks", "show", "summarise").flat)
    assert fleet("blocks", "show", "summarise", "--json").json()["cost"]["kind"] == "computed"


@pytest.mark.parametrize(("answer", "score"), [("Paris", 1.0), ("Lyon", 0.2), ("Rome", 0.0)])
def test_runs_show_gives_the_cost_per_node_and_in_total_and_the_score(
        fleet: Fleet, add_example: Callable[..., str], worker: InlineWorker, answer: str,
        score: float) -> None:
    add_example("graded.yaml", user="local")
    done = fleet("runs", "submit", "graded", "--input", f"answer={answer}", "--wait", "--json")
    assert done.code == 0, done.output
    run_id = done.json()["id"]
    waited = fleet("runs", "submit", "graded", "--input", f"answer={answer}", "--wait")
    assert waited.code == 0 and f"cost 1 correctness score {score:g}" in waited.flat
    shown = fleet("runs", "show", run_id, "--json").json()
    assert shown["run"]["cost"] == 1.0 and shown["run"]["correctness_score"] == score
    assert shown["run"]["outputs"]["score"] == score
    assert {n["node_id"]: n["cost"] for n in shown["nodes"]} == {
        "grade": 0.0, "report": 0.0, "keep": 1.0}
    assert {n["node_id"]: n["cost"] for n in shown["progress"]} == {
        "grade": 0.0, "report": 0.0, "keep": 1.0}
    text = fleet("runs", "show", run_id)
    assert text.code == 0
    assert f"cost 1 correctness score {score:g}" in text.flat
    keep = next(line for line in text.stdout.splitlines() if "write_file" in line)
    assert " 1 " in keep.replace("│", " ")


def test_a_score_that_is_not_a_number_is_not_stored_and_trace_says_why(
        fleet: Fleet, add_example: Callable[..., str], worker: InlineWorker) -> None:
    add_example("graded.yaml", user="local")
    # An empty answer is an empty path: json_field emits the whole grading table.
    done = fleet("runs", "submit", "graded", "--input", "answer=", "--wait", "--json")
    assert done.code == 0, done.output  # the run itself completes
    run = fleet("runs", "show", done.json()["id"], "--json").json()["run"]
    assert run["state"] == "completed" and run["correctness_score"] is None
    assert run["cost"] == 1.0
    events = fleet("runs", "trace", run["id"], "--json").json()["events"]
    [note] = [e["detail"] for e in events if e["kind"] == "note"]
    assert note.startswith("correctness score not stored: output 'score' is dict {")
    assert note.endswith(", not a number")
    trace = fleet("runs", "trace", run["id"])
    assert trace.code == 0 and "note" in trace.stdout and "not stored" in trace.stdout
    assert "correctness score" not in fleet("runs", "show", run["id"]).flat
