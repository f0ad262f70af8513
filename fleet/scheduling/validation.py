"""Graph and input checks for schedules, through the engine's validator.

One :class:`GraphChecker` per dispatch pass: the block registry is built once
and each graph version's verdict is cached, so a batch of schedules on the
same graph validates it once.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from fleet.errors import InvalidInput


class GraphChecker(Protocol):
    """What schedules need from graph validation."""

    def graph_problems(self, key: tuple[str, int], definition: dict[str, Any]) -> list[str]:
        """Every problem of the graph version ``key`` (empty when valid)."""
        ...

    def input_problems(self, key: tuple[str, int], definition: dict[str, Any],
                       inputs: dict[str, Any]) -> list[str]:
        """Every problem of ``inputs`` for that graph version (empty when valid)."""
        ...


def _problems(exc: InvalidInput) -> list[str]:
    return list(exc.problems) or [exc.message]


class EngineChecker:
    """The engine's ``validate_graph`` / ``check_inputs`` with the default block registry."""

    def __init__(self, registry: Any | None = None) -> None:
        self._registry = registry
        self._graphs: dict[tuple[str, int], list[str]] = {}
        self._inputs: dict[tuple[tuple[str, int], str], list[str]] = {}

    @property
    def registry(self) -> Any:
        """The block registry (built on first use)."""
        if self._registry is None:
            from fleet.engine.blocks.registry import default_registry

            self._registry = default_registry()
        return self._registry

    def graph_problems(self, key: tuple[str, int], definition: dict[str, Any]) -> list[str]:
        if key not in self._graphs:
            from fleet.engine.validate import validate_graph

            try:
                validate_graph(definition, self.registry)
                self._graphs[key] = []
            except InvalidInput as exc:
                self._graphs[key] = _problems(exc)
        return self._graphs[key]

    def input_problems(self, key: tuple[str, int], definition: dict[str, Any],
                       inputs: dict[str, Any]) -> list[str]:
        cache_key = (key, json.dumps(inputs, sort_keys=True, default=str))
        if cache_key not in self._inputs:
            from fleet.engine.validate import check_inputs

            try:
                check_inputs(definition, inputs, self.registry)
                self._inputs[cache_key] = []
            except InvalidInput as exc:
                self._inputs[cache_key] = _problems(exc)
        return self._inputs[cache_key]
