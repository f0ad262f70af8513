"""Builders for the worker tests."""

from __future__ import annotations

from typing import Any

from fleet.engine.blocks.registry import BlockRegistry
from fleet.settings import Settings
from fleet.testing import RecordingSender
from fleet.worker.process import WorkerRuntime


def make_runtime(settings: Settings, **kw: Any) -> tuple[WorkerRuntime, RecordingSender]:
    """A WorkerRuntime on ``settings`` with a recording sender (no blocks: the executor is
    scripted)."""
    sender = RecordingSender()
    rt = WorkerRuntime(settings, sender=sender, registry=BlockRegistry(), **kw)
    return rt, sender
