"""``fleet blocks``: the blocks a graph can use, with their pins, types and defaults.

Built-in blocks and those of installed ``fleet.blocks`` entry points, as the
workers see them (:func:`fleet.engine.blocks.registry.default_registry`).
"""

from __future__ import annotations

import json
from typing import Any

import typer
from pydantic import BaseModel
from pydantic_core import PydanticUndefined
from rich.table import Table
from rich.text import Text

from fleet.cli.context import JSON, console, handle_errors, print_json
from fleet.engine.blocks.base import Block
from fleet.engine.blocks.registry import default_registry

app = typer.Typer(help="The blocks a graph can use: pins, types, defaults.",
                  no_args_is_help=True)

NO_DEFAULT = object()


def _default(model: type[BaseModel], pin: str) -> Any:
    """A pin's default value (a factory is called), or NO_DEFAULT for a required pin."""
    field = model.model_fields.get(pin)
    if field is None or field.is_required():
        return NO_DEFAULT
    if field.default_factory is not None:
        return field.get_default(call_default_factory=True)
    return None if field.default is PydanticUndefined else field.default


def describe(block: type[Block]) -> dict[str, Any]:
    """The block as ``Block.describe()`` tells it, with each input pin's default."""
    info = block.describe()
    for pin, spec in info.get("inputs", {}).items():
        default = _default(block.Input, pin)
        if default is not NO_DEFAULT:
            spec["default"] = default
    return info


def cost_text(cost: dict[str, Any], *, short: bool = False) -> str:
    """A block's cost declaration in words (``describe()["cost"]``)."""
    if cost["kind"] == "fixed":
        return f"{cost['amount']:g}" if short else f"{cost['amount']:g} per execution"
    if short:
        return "computed"
    return f"computed from inputs and outputs: {cost['description'] or '(undocumented)'}"


def _jsonable(value: Any) -> str:
    try:
        return json.dumps(value)
    except TypeError:
        return repr(value)


@app.command("list")
@handle_errors
def list_(json_out: bool = JSON) -> None:
    """Every block: its id, pins and what it does."""
    registry = default_registry()
    blocks = [describe(registry.get(i)) for i in registry.ids()]
    if json_out:
        print_json(blocks)
        return
    table = Table(title=f"blocks ({len(blocks)})")
    table.add_column("block", no_wrap=True)
    for col in ("inputs (* required)", "outputs", "cost", "description"):
        table.add_column(col)
    for b in blocks:
        inputs = ", ".join(n + ("*" if p["required"] else "") for n, p in b["inputs"].items())
        table.add_row(Text(b["id"], style="bold"), Text(inputs),
                      Text(", ".join(b["outputs"])), Text(cost_text(b["cost"], short=True)),
                      Text(b["description"]))
    console.print(table)
    console.print(Text("`fleet blocks show NAME` gives the types, defaults and descriptions "
                       "of one block's pins", style="dim"))


@app.command("show")
@handle_errors
def show(name: str = typer.Argument(..., help="The block id, e.g. template."),
         json_out: bool = JSON) -> None:
    """One block: each pin's type, whether it is required, its default and description."""
    info = describe(default_registry().get(name))
    if json_out:
        print_json(info)
        return
    console.print(Text(info["id"], style="bold"))
    console.print(Text(info["description"]))
    console.print(Text(f"cost: {cost_text(info['cost'])}"))
    inputs = Table(title="inputs")
    inputs.add_column("pin", no_wrap=True)
    for col in ("type", "required", "default", "description"):
        inputs.add_column(col)
    for pin, p in info["inputs"].items():
        inputs.add_row(Text(pin), Text(p["type"]), "yes" if p["required"] else "",
                       Text(_jsonable(p["default"]) if "default" in p else ""),
                       Text(p["description"]))
    console.print(inputs)
    outputs = Table(title="outputs")
    outputs.add_column("pin", no_wrap=True)
    for col in ("type", "description"):
        outputs.add_column(col)
    for pin, p in info["outputs"].items():
        outputs.add_row(Text(pin), Text(p["type"]), Text(p["description"]))
    console.print(outputs)
    if info.get("credentials"):
        creds = Table(title="credential inputs")
        for col in ("pin", "kinds", "required", "description"):
            creds.add_column(col)
        for pin, c in info["credentials"].items():
            creds.add_row(Text(pin), Text(", ".join(c["kinds"])), "yes" if c["required"] else "",
                          Text(c["description"]))
        console.print(creds)


def register(root: typer.Typer) -> None:
    """Add ``fleet blocks`` to the root command."""
    root.add_typer(app, name="blocks")
