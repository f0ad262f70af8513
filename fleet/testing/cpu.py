"""CPU time of processes, read from /proc: what benchmarks charge to each part."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fleet.testing.servers import PostgresServer

_HZ = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of ``pids`` (0 for a pid that is gone)."""
    ticks = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / _HZ


def _pgrep(*args: str) -> list[int]:
    out = subprocess.run(["pgrep", *args], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def process_group(pgid: int) -> list[int]:
    """The processes of a process group (a worker and the processes it forked)."""
    return _pgrep("-g", str(pgid))


def postgres_processes(pg: PostgresServer) -> list[int] | None:
    """The postmaster and its children, or None for a server not started by this process."""
    if pg.datadir is None:
        return None
    with open(Path(pg.datadir) / "postmaster.pid") as f:
        postmaster = int(f.readline())
    return [postmaster, *_pgrep("-P", str(postmaster))]
