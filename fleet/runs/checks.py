"""The one check before a graph version runs: the graph first, then its inputs.

Used when a run is submitted, when a schedule is added, resumed or run now,
when the dispatcher fires, and when a worker starts executing. Every problem
is returned at once, prefixed with what it is about (``graph:`` or ``inputs:``).
"""

from __future__ import annotations

import copy
import json
import threading
import weakref
from collections import OrderedDict
from typing import Any

from fleet.engine.blocks.registry import BlockRegistry
from fleet.engine.definition import GraphDef, parse
from fleet.engine.validate import check_inputs, validate_graph
from fleet.errors import InvalidInput


def _problems(exc: InvalidInput) -> list[str]:
    return list(exc.problems) or [exc.message]


def graph_problems(definition: dict[str, Any], registry: BlockRegistry) -> list[str]:
    """Every problem of the graph definition (empty when it is valid)."""
    try:
        validate_graph(definition, registry)
    except InvalidInput as exc:
        return _problems(exc)
    return []


def input_size(inputs: Any) -> int:
    """Bytes of ``inputs`` as JSON (what the size limit counts); raises on non-JSON data."""
    return len(json.dumps(inputs, separators=(",", ":")).encode())


def input_problems(definition: dict[str, Any], inputs: Any, registry: BlockRegistry,
                   max_input_bytes: int, *, graph: GraphDef | None = None) -> list[str]:
    """Every problem of ``inputs`` for the graph: shape, size, names, required, types.
    ``graph``: the definition already parsed (it is not parsed again)."""
    if not isinstance(inputs, dict):
        return [f"inputs must be a JSON object of name -> value, not {type(inputs).__name__}"]
    problems: list[str] = []
    try:
        size = input_size(inputs)
    except (TypeError, ValueError) as exc:
        return [f"inputs are not JSON data: {exc}"]
    if size > max_input_bytes:
        problems.append(f"inputs are {size} bytes, over the limit of {max_input_bytes} bytes "
                        "(FLEET_MAX_INPUT_BYTES); pass large data as an artifact")
    try:
        check_inputs(definition, inputs, registry, graph=graph)
    except InvalidInput as exc:
        problems.extend(_problems(exc))
    return problems


def problems(definition: dict[str, Any], inputs: Any, registry: BlockRegistry,
             max_input_bytes: int) -> list[str]:
    """The graph's problems, or (when it is valid) the inputs' problems, each prefixed."""
    found = [f"graph: {p}" for p in graph_problems(definition, registry)]
    if found:
        return found
    return [f"inputs: {p}" for p in input_problems(definition, inputs, registry,
                                                    max_input_bytes)]


class CachedChecker:
    """:func:`problems` with verdicts cached per graph version and per inputs.

    One per dispatcher pass: a batch of schedules on the same graph checks it once.
    """

    def __init__(self, registry: BlockRegistry, max_input_bytes: int) -> None:
        self.registry = registry
        self.max_input_bytes = max_input_bytes
        self._graphs: dict[tuple[str, int], list[str]] = {}
        self._inputs: dict[tuple[tuple[str, int], str], list[str]] = {}

    def problems(self, key: tuple[str, int], definition: dict[str, Any],
                 inputs: Any) -> list[str]:
        """Problems of the graph version ``key`` and of ``inputs`` for it."""
        if key not in self._graphs:
            self._graphs[key] = [f"graph: {p}" for p in graph_problems(definition,
                                                                      self.registry)]
        if self._graphs[key]:
            return self._graphs[key]
        try:
            text = json.dumps(inputs, sort_keys=True)
        except (TypeError, ValueError):
            text = repr(inputs)
        cache_key = (key, text)
        if cache_key not in self._inputs:
            self._inputs[cache_key] = [f"inputs: {p}" for p in input_problems(
                definition, inputs, self.registry, self.max_input_bytes)]
        return self._inputs[cache_key]


class GraphVersions:
    """Parsed graph versions and their verdicts, per block registry, for one process.

    A stored graph version never changes, so a worker validates and parses each
    version once, not once per run. But a key can name another graph later: once
    no run names a deleted graph's versions (retention pruned them), the graph
    added again under its id starts again at version 1. So a hit
    counts only when its definition equals the one the run was claimed with (a
    comparison, microseconds, where parsing and validating take a millisecond).
    Bounded (least recently used out).
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._by_registry: weakref.WeakKeyDictionary[
            BlockRegistry,
            OrderedDict[tuple[str, str, int], tuple[dict[str, Any], list[str], GraphDef]],
        ] = weakref.WeakKeyDictionary()

    def get(self, key: tuple[str, str, int], definition: dict[str, Any],
            registry: BlockRegistry) -> tuple[list[str], GraphDef]:
        """``(problems, parsed graph)`` of the graph version ``(user, graph id, version)``
        whose definition is ``definition``."""
        with self._lock:
            cache = self._by_registry.setdefault(registry, OrderedDict())
            hit = cache.get(key)
            if hit is not None and (hit[0] is definition or hit[0] == definition):
                cache.move_to_end(key)
                return hit[1], hit[2]
        found = ([f"graph: {p}" for p in graph_problems(definition, registry)],
                 parse(definition)[0])
        with self._lock:
            cache[key] = (copy.deepcopy(definition), *found)
            while len(cache) > self.size:
                cache.popitem(last=False)
        return found


GRAPH_VERSIONS = GraphVersions()
