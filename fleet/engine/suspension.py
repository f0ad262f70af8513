"""Waiting nodes inside sub-graphs: the nested state a parked sub-graph node keeps.

A top-level ``approval`` or ``tool`` node parks the run with its own request
(``Suspend.resume``: ``on_approve`` or ``result_pin``). When such a node waits
inside a sub-graph, the sub-graph node parks instead, and its ``resume`` is a
*level*::

    {"kind": "subgraph",
     "node": "ok",                  # the waiting node inside the sub-graph
     "exec_key": "ok:…:0",          # its execution's key
     "state": "waiting_approval",
     "inner": {...},                # its own resume (a level again when nested deeper)
     "checkpoints": {exec_key: {"outputs": [[pin, value], …],
                                "started_at": iso, "ended_at": iso}},
     "decided": [[pin, value], …]}  # set once approved / the tool result arrived

The decision is stored in the deepest level (:func:`decide`); executing the
parent node again replays the sub-graph's finished executions and the decided
node from this state and carries on, so nothing finished is redone.
"""

from __future__ import annotations

import copy
from typing import Any

SUBGRAPH = "subgraph"
# The state of a parked sub-graph node once decided: neither waiting nor a checkpoint;
# the next execution of the run runs the node again with its nested state.
RESUMED = "resumed"


def is_level(resume: dict[str, Any] | None) -> bool:
    """Whether ``resume`` is the nested state of a parked sub-graph node."""
    return isinstance(resume, dict) and resume.get("kind") == SUBGRAPH


def _deepest_level(resume: dict[str, Any]) -> dict[str, Any]:
    level = resume
    while is_level(level.get("inner")):
        level = level["inner"]
    return level


def request(resume: dict[str, Any] | None) -> dict[str, Any]:
    """What the waiting node asked for (``on_approve``, ``result_pin``, ``message``...)."""
    if not is_level(resume):
        return dict(resume or {})
    assert resume is not None
    return dict(_deepest_level(resume).get("inner") or {})


def path(node_id: str, resume: dict[str, Any] | None) -> str:
    """``sub/inner/...``: where the waiting node is, from the parked node ``node_id``."""
    parts = [node_id]
    level = resume
    while is_level(level):
        assert level is not None
        parts.append(str(level.get("node")))
        level = level.get("inner")
    return "/".join(parts)


def decide(resume: dict[str, Any] | None,
           outputs: list[Any]) -> tuple[str, list[Any] | None, dict[str, Any] | None]:
    """``(state, outputs, resume)`` of the waiting node run once it emits ``outputs``.

    A top-level waiting node completes with them (its checkpoint). A parked
    sub-graph node becomes ``resumed``: the outputs are stored as the decision
    of the node waiting inside it, to be replayed when the sub-graph runs again.
    """
    if not is_level(resume):
        return "completed", outputs, resume
    assert resume is not None
    decided = copy.deepcopy(resume)
    _deepest_level(decided)["decided"] = outputs
    return RESUMED, None, decided
