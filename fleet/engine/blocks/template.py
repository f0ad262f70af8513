"""``template``: format a text template with named values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from fleet.engine.blocks.base import Block, BlockContext


class TemplateBlock(Block):
    """Render ``template`` with ``str.format`` using ``values`` and ``value``."""

    id = "template"
    inline = True  # never waits
    description = "Render a text template: {value} and {name} for each entry of values."

    class Input(BaseModel):
        template: str = Field(description="Python format string, e.g. 'Hello {value}'.")
        value: Any = Field(None, description="Available as {value}.")
        values: dict[str, Any] = Field(default_factory=dict,
                                       description="Available as {name}.")

    class Output(BaseModel):
        text: str = Field(description="The rendered text.")

    def run(self, inputs: Input, ctx: BlockContext) -> Iterator[tuple[str, Any]]:
        names = {"value": inputs.value, **inputs.values}
        try:
            text = inputs.template.format_map(names)
        except KeyError as exc:
            raise ValueError(f"template refers to {{{exc.args[0]}}}, which is neither 'value' "
                             f"nor a key of values ({', '.join(sorted(inputs.values)) or 'empty'})"
                             ) from None
        except (IndexError, ValueError) as exc:
            raise ValueError(f"template {inputs.template!r} is malformed: {exc}") from None
        yield "text", text
