"""Blocks by id: the built-ins plus third-party blocks from the ``fleet.blocks`` entry points."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from fleet.engine import costs
from fleet.engine.blocks.approval import ApprovalBlock
from fleet.engine.blocks.base import Block
from fleet.engine.blocks.branch import BranchBlock
from fleet.engine.blocks.constant import ConstantBlock
from fleet.engine.blocks.delay import DelayBlock
from fleet.engine.blocks.failing import FailingBlock
from fleet.engine.blocks.files import WriteFileBlock
from fleet.engine.blocks.http import HttpRequestBlock
from fleet.engine.blocks.json_field import JsonFieldBlock
from fleet.engine.blocks.subgraph import SubGraphBlock
from fleet.engine.blocks.template import TemplateBlock
from fleet.engine.blocks.tool import ToolCallBlock
from fleet.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fleet.blocks"


class BlockRegistry:
    """A mapping of block id to block class."""

    def __init__(self, blocks: Iterable[type[Block]] = ()) -> None:
        self._blocks: dict[str, type[Block]] = {}
        self.changes = 0  # registrations so far: what is derived from the registry says when
        for block in blocks:
            self.register(block)

    def register(self, block: type[Block], *, replace: bool = False) -> type[Block]:
        """Add ``block``; a second block with the same id is refused unless ``replace``."""
        if not (isinstance(block, type) and issubclass(block, Block)):
            raise InvalidInput(f"{block!r} is not a Block subclass; derive it from "
                               "fleet.engine.blocks.base.Block")
        if not block.id:
            raise InvalidInput(f"block class {block.__name__} has no id; set its `id` attribute")
        if block.run is Block.run:
            raise InvalidInput(f"block class {block.__name__} ({block.id!r}) does not implement "
                               "run(); define run(self, inputs, ctx) yielding (pin, value)")
        cost_problem = costs.declaration_problem(block)
        if cost_problem:
            raise InvalidInput(cost_problem)
        pins = block.input_pins()
        bad = [p for p in block.credentials if p not in pins or pins[p].required]
        if bad:
            raise InvalidInput(f"block {block.id!r} declares credential input(s) "
                               f"{', '.join(bad)} that are not optional input pins; add "
                               "them to Input as `pin: str | None = None`")
        if block.id in self._blocks and not replace and self._blocks[block.id] is not block:
            raise InvalidInput(f"a block with id {block.id!r} is already registered "
                               f"({self._blocks[block.id].__name__}); choose another id")
        self._blocks[block.id] = block
        self.changes += 1
        return block

    def get(self, block_id: str) -> type[Block]:
        """The block class for ``block_id``; NotFound names the known ids."""
        try:
            return self._blocks[block_id]
        except KeyError:
            raise NotFound(f"unknown block {block_id!r}; known blocks: "
                           f"{', '.join(sorted(self._blocks))}") from None

    def find(self, block_id: str) -> type[Block] | None:
        """The block class for ``block_id``, or None."""
        return self._blocks.get(block_id)

    def ids(self) -> list[str]:
        """Every registered id, sorted."""
        return sorted(self._blocks)

    def __contains__(self, block_id: object) -> bool:
        return block_id in self._blocks

    def __len__(self) -> int:
        return len(self._blocks)

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> list[str]:
        """Register the blocks advertised by installed packages; returns the ids added.

        A broken plug-in is logged and skipped: one bad package must not stop
        every worker from starting.
        """
        added: list[str] = []
        for ep in entry_points(group=group):
            try:
                obj = ep.load()
                blocks = obj if isinstance(obj, list | tuple) else [obj]
                for block in blocks:
                    self.register(block)
                    added.append(block.id)
            except Exception as exc:  # a plug-in's own bug, reported not raised
                log.error("block entry point %s (%s) could not be loaded: %s",
                          ep.name, ep.value, exc)
        return added


def builtin_blocks() -> list[type[Block]]:
    """The built-in block classes."""
    return [ConstantBlock, TemplateBlock, JsonFieldBlock, BranchBlock, DelayBlock,
            HttpRequestBlock, SubGraphBlock, ApprovalBlock, ToolCallBlock, FailingBlock,
            WriteFileBlock]


def default_registry() -> BlockRegistry:
    """The built-ins plus the blocks of the ``fleet.blocks`` entry-point group."""
    registry = BlockRegistry(builtin_blocks())
    registry.load_entry_points()
    return registry
