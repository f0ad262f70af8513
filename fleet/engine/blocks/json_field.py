"""``json_field``: extract a field from JSON data by a dotted path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

_MISSING = object()


def extract(data: Any, path: str) -> Any:
    """Follow ``path`` (``a.b.0.c``) through dicts and lists; ``_MISSING`` if absent."""
    current = data
    for part in [p for p in path.split(".") if p != ""]:
        if isinstance(current, dict):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, list):
            try:
                current = current[int(part)]
            except (ValueError, IndexError):
                return _MISSING
        else:
            return _MISSING
    return current


class JsonFieldBlock(Block):
    """Emit the field at ``path`` on ``value``, or the path on ``missing``."""

    id = "json_field"
    inline = True  # never waits
    description = ("Extract a field from JSON data (a dict/list or a JSON string) by a dotted "
                   "path such as 'items.0.name'.")

    class Input(BaseModel):
        data: Any = Field(description="A dict, a list, or a JSON text.")
        path: str = Field(description="Dotted path; list indexes are numbers.")
        default: Any = Field(None, description="Emitted on value when the path is absent.")

    class Output(BaseModel):
        value: Any = Field(None, description="The field's value.")
        missing: str = Field("", description="The path, when absent and no default is set.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        data = inputs.data
        if isinstance(data, str | bytes):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise ValueError(f"data is not valid JSON: {exc}") from None
        found = extract(data, inputs.path)
        if found is not _MISSING:
            yield "value", found
        elif inputs.default is not None:
            yield "value", inputs.default
        else:
            yield "missing", inputs.path
