"""Blocks: the units a graph wires together (base class, registry, built-ins)."""

from fleet.engine.blocks.base import Block, BlockContext, Suspend

__all__ = ["Block", "BlockContext", "Suspend"]
