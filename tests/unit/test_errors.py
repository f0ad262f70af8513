"""Every error has a code of one pattern, unique, and docs/errors.md is generated from them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from fleet import errors

ROOT = Path(__file__).resolve().parents[2]


def test_every_code_follows_one_pattern_and_is_unique() -> None:
    codes = [cls.code for cls in errors.exception_classes()] + list(errors.RUN_ERROR_CODES)
    assert all(errors.CODE_PATTERN.match(c) for c in codes), codes
    assert len(codes) == len(set(codes)), sorted(codes)


def test_every_exception_of_fleet_lives_in_errors_py() -> None:
    found = []
    for path in (ROOT / "fleet").rglob("*.py"):
        text = path.read_text()
        if path.name != "errors.py" and "(FleetError)" in text.replace(" ", ""):
            found.append(str(path.relative_to(ROOT)))
    assert found == [], f"exceptions defined outside fleet/errors.py: {found}"


def test_errors_doc_is_current() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "errors_doc.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
