#!/usr/bin/env bash
# Set up (if needed) and run every check: ruff, mypy, the layer contracts and the whole test suite.
# Integration tests start throwaway PostgreSQL and Redis servers on free ports
# (or use FLEET_TEST_POSTGRES_URL / FLEET_TEST_REDIS_URL). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
.venv/bin/python -m pytest -q "$@"
