"""A graph's correctness score: one of its outputs, named by ``score_output``, read as 0-1.

The graph format's ``score_output: NAME`` names one of the graph's ``outputs``;
when a run completes, that output's value is its correctness score (what the
execution-accuracy monitor averages). Validation refuses a name that is not an
output, or an output whose pin can never carry a number
(:mod:`fleet.engine.validate`). At run end a value that
is missing, not a number, or outside 0-1 is not stored: :func:`judge` says why,
and the run still completes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fleet.engine.definition import GraphDef


@dataclass(frozen=True)
class Score:
    """The verdict on a completed run's score: the value to store, or why there is none."""

    value: float | None = None
    problem: str | None = None  # why the output was not stored as the score


def judge(graph: GraphDef, outputs: dict[str, Any]) -> Score:
    """The correctness score of a completed run with ``outputs`` (an empty Score when the
    graph names no score output)."""
    name = graph.score_output
    if name is None:
        return Score()
    why = f"correctness score not stored: output {name!r}"
    if name not in outputs:
        return Score(problem=f"{why} was never produced")
    value = outputs[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Score(problem=f"{why} is {_shown(value)}, not a number")
    if not (math.isfinite(value) and 0 <= value <= 1):
        return Score(problem=f"{why} is {value!r}, outside 0 to 1")
    return Score(value=float(value))


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:59] + '…'}"
