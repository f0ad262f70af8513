"""Every system job by name: the one list the CLI and the periodiq actors read.

Each module named here exposes ``SWEEP: SweepSpec``.
"""

from __future__ import annotations

import importlib
from functools import cache

from fleet.errors import NotFound
from fleet.sweeps.base import SweepSpec

MODULES: tuple[str, ...] = (
    "fleet.scheduling.dispatcher",
    "fleet.runs.reaper",
    "fleet.sweeps.stale_runtimes",
    "fleet.sweeps.resend",
    "fleet.sweeps.queued_expiry",
    "fleet.sweeps.running_backstop",
    "fleet.sweeps.waiting_timeouts",
    "fleet.sweeps.late_executions",
    "fleet.sweeps.block_errors",
    "fleet.sweeps.accuracy",
    "fleet.sweeps.weekly_summary",
    "fleet.sweeps.runtime_gc",
    "fleet.sweeps.retention",
)


@cache
def all_sweeps() -> dict[str, SweepSpec]:
    """Name -> spec of every system job, in registry order."""
    specs: dict[str, SweepSpec] = {}
    for module in MODULES:
        spec: SweepSpec = importlib.import_module(module).SWEEP
        specs[spec.name] = spec
    return specs


def get(name: str) -> SweepSpec:
    """The job called ``name``, or a NotFound naming the known ones."""
    specs = all_sweeps()
    if name not in specs:
        raise NotFound(f"no system job called '{name}'; known jobs: {', '.join(specs)}")
    return specs[name]
