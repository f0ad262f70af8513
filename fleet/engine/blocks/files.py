"""``write_file``: write a file to the run's artifacts and emit a reference to it."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext

MIB = 1024 * 1024


class WriteFileBlock(Block):
    """Store ``content`` as an artifact of the run (text as is, other data as JSON)."""

    id = "write_file"
    description = ("Write a file to the run's artifacts (text as is, other values as JSON); "
                   "emits the artifact reference (id, name, size, content type, sha256).")

    class Input(BaseModel):
        name: str = Field(min_length=1, max_length=256, description="File name.")
        content: Any = Field(description="Text, or any JSON value (stored as JSON).")
        content_type: str | None = Field(None, description="Overrides the guessed type.")
        expires_in_s: float | None = Field(
            None, gt=0, description="Expiry in seconds (default and bounds: the settings).")

    class Output(BaseModel):
        artifact: dict[str, Any] = Field(description="Reference to the stored artifact.")

    def cost_of(self, inputs: Any, outputs: list[tuple[str, Any]]) -> float:
        """1 per started MiB stored (a failed write costs nothing)."""
        size = next((ref.get("size") for pin, ref in outputs
                     if pin == "artifact" and isinstance(ref, dict)), None)
        if not isinstance(size, int):
            return 0.0
        return float(max(1, math.ceil(size / MIB)))

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        if isinstance(inputs.content, str):
            data = inputs.content.encode()
            content_type = inputs.content_type or "text/plain; charset=utf-8"
        else:
            data = json.dumps(inputs.content, ensure_ascii=False).encode()
            content_type = inputs.content_type or "application/json"
        yield "artifact", ctx.write_file(inputs.name, data, content_type, inputs.expires_in_s)
