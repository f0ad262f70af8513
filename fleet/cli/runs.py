"""``fleet runs``: the group; its commands live in run_control (act) and run_views (read)."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Submit, inspect and act on runs.", no_args_is_help=True)

# Modules adding commands to this group, each exposing add_commands(app).
PARTS: tuple[str, ...] = ("fleet.cli.run_control", "fleet.cli.run_views")


def register(root: typer.Typer) -> None:
    """Add ``fleet runs`` to the root command."""
    for module in PARTS:
        importlib.import_module(module).add_commands(app)
    root.add_typer(app, name="runs")
