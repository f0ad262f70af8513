"""A missing integration server skips locally and fails under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = "tests/integration/store/test_leases.py::test_claim_sets_lease_fields"


def _pytest(ci: bool, env_extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_TEST_")}
    env.pop("CI", None)
    env.update(env_extra)
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TARGET, "-k", "postgres"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


# Port 9 (discard) on loopback has no PostgreSQL: the fixture cannot create its database.
DEAD_PG = {"FLEET_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:9/postgres"}


@pytest.mark.slow
def test_missing_postgres_skips_locally() -> None:
    result = _pytest(ci=False, env_extra=DEAD_PG)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout and "FLEET_TEST_POSTGRES_URL" in result.stdout


@pytest.mark.slow
def test_missing_postgres_fails_under_ci() -> None:
    result = _pytest(ci=True, env_extra=DEAD_PG)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true and a required server is unavailable" in result.stdout
