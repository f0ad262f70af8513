"""The layer contracts of pyproject.toml hold, and each of them can fail.

A scratch copy of the package gets one deliberately wrong import per contract
(inside a function, which grimp counts too), and ``lint-imports`` must name
that contract as broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_contracts_are_kept() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


# (file to edit, import line to plant inside a function, contract that must break)
WRONG = [
    ("fleet/store/runs.py", "from fleet.runs import fsm", "Layers"),
    ("fleet/engine/dataflow.py", "from fleet.store import runs", "Layers"),
    ("fleet/runs/submit.py", "from fleet.sweeps import resend", "Layers"),
    ("fleet/alerts/service.py", "from fleet.scheduling import dispatcher", "Layers"),
    ("fleet/graphs/service.py", "from fleet.scheduling import service", "Layers"),
    ("fleet/ports.py", "from fleet.worker import liveness", "Layers"),
    ("fleet/scheduling/cron.py", "import periodiq", "Only the glue"),
    ("fleet/cli/graphs.py", "import dramatiq", "The CLI reaches Dramatiq only"),
    ("fleet/sweeps/resend.py", "from fleet.testing import RecordingSender", "doubles"),
    # credentials and artifacts sit below the run lifecycle, beside each other, above the engine
    ("fleet/vault/service.py", "from fleet.runs import submit", "Layers"),
    ("fleet/artifacts/service.py", "from fleet.vault import keys", "Layers"),
    ("fleet/engine/blocks/http.py", "from fleet.vault import use", "Layers"),
    ("fleet/search/service.py", "from fleet.testing import memory_storage", "doubles"),
    ("fleet/web/app.py", "import dramatiq", "The web reaches the broker only"),
    ("fleet/web/actions.py", "from fleet.testing import RecordingSender", "doubles"),
    ("fleet/audit/service.py", "from fleet.runs import control", "Layers"),
    ("fleet/tokens/service.py", "from fleet.observe import counters", "Layers"),
    ("fleet/observe/snapshot.py", "from fleet.web import app", "Layers"),
]


@pytest.mark.parametrize(("path", "line", "contract"), WRONG,
                         ids=[f"{p}:{c}" for p, _, c in WRONG])
def test_a_wrong_import_breaks_its_contract(tmp_path: Path, path: str, line: str,
                                           contract: str) -> None:
    for name in ("fleet", "actors", "schedules"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / path
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {line}  # noqa\n")
    result = _lint(tmp_path)
    assert result.returncode != 0, result.stdout
    broken = [ln for ln in result.stdout.splitlines() if "BROKEN" in ln]
    assert any(contract in ln for ln in broken), result.stdout
