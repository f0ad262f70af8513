"""The API fuzzed from its own OpenAPI document (schemathesis): no 5xx, and every response
matches its schema (status code, content type, body). CI-friendly: a few examples per
operation, on SQLite, with an admin token (the widest reach) over seeded objects.

The app is built when the module is imported, because schemathesis reads the document at
collection time (its fixture-based loader does not run on this pytest).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from fleet.store import migrate
from tests.integration.web.support import make_web, seed_user

EXAMPLES_PER_OPERATION = int(os.environ.get("FLEET_FUZZ_EXAMPLES", "12"))  # more: locally
_DIR = tempfile.mkdtemp(prefix="fleet-fuzz-")
_URL = f"sqlite:///{_DIR}/fleet.sqlite"
migrate.upgrade(_URL)
WEB = make_web(_URL, datetime(2026, 3, 2, 12, tzinfo=UTC))
schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", WEB.client.app)


@schema.auth()
class AdminToken:
    """The admin's bearer token on every generated request (schemathesis' auth hook, so it
    does not mutate the header into a negative case and then see it put back)."""

    def get(self, case: Any, ctx: Any) -> str:
        return WEB.tokens["admin"]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture(scope="module", autouse=True)
def _seeded() -> Iterator[None]:
    seed_user(WEB, "carol")
    seed_user(WEB, "bob")
    yield
    WEB.client.close()
    WEB.engine.dispose()
    shutil.rmtree(_DIR, ignore_errors=True)


@schema.parametrize()
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: Any) -> None:
    # Every check but "schema-valid data is accepted": the API refuses data that fits the
    # schema but not the domain (a cron of 5 fields that never fires, an unknown zone, a
    # graph that does not validate, an opaque cursor it did not issue) with a 422 naming
    # the field, by design.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
