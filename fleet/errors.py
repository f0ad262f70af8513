"""The exception root of fleet, every exception it raises on purpose, and the run error codes.

Every error carries a stable ``code`` of the form ``E-AREA-NNN`` so the CLI,
the API and run rows can name it, and a message that says what was wrong and
what to do. ``docs/errors.md`` is generated from this module
(``python scripts/gen_docs.py``) and a test keeps the two in step.
"""

from __future__ import annotations

import re

CODE_PATTERN = re.compile(r"^E-[A-Z]+-\d{3}$")


class FleetError(Exception):
    """Root of every error fleet raises on purpose."""

    code = "E-FLEET-000"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FleetError):
    """The settings are inconsistent, incomplete or unparsable."""

    code = "E-CONFIG-001"


class InvalidInput(FleetError):
    """Input was malformed; nothing was changed. ``problems`` lists every problem."""

    code = "E-INPUT-001"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class UsageError(InvalidInput):
    """The command line was malformed: an unknown option, a missing argument (`fleet` exits 2)."""

    code = "E-USAGE-001"


class NotFound(FleetError):
    """The named object does not exist (or belongs to another user, which looks the same)."""

    code = "E-INPUT-002"


class NotAuthorized(FleetError):
    """The caller may not act on this object (a role or read-only mode forbids it)."""

    code = "E-INPUT-003"


class Ambiguous(InvalidInput):
    """An id prefix matches several objects; the message names the candidates."""

    code = "E-INPUT-004"


class IllegalTransition(FleetError):
    """A run was asked to move between two states the state machine forbids."""

    code = "E-RUN-001"

    def __init__(self, run_id: str, from_state: str, to_state: str) -> None:
        super().__init__(
            f"run {run_id}: illegal transition from '{from_state}' to '{to_state}'"
        )
        self.run_id = run_id
        self.from_state = from_state
        self.to_state = to_state


class LeaseLost(FleetError):
    """A worker tried to write a run whose lease it no longer holds."""

    code = "E-RUN-003"

    def __init__(self, run_id: str, lease_id: str | None) -> None:
        super().__init__(
            f"run {run_id}: lease {lease_id} is no longer held; the write was refused "
            "(the run was reaped or taken over by another worker)"
        )
        self.run_id = run_id
        self.lease_id = lease_id


class NotWaiting(FleetError):
    """The run is not in the waiting state the action (approve, reject, complete) needs."""

    code = "E-RUN-007"


class Unauthenticated(FleetError):
    """No valid API token was presented (missing, unknown, revoked or expired)."""

    code = "E-AUTH-001"


class ReadOnlyMode(NotAuthorized):
    """FLEET_WEB_READ_ONLY is set: the API and dashboard refuse every action."""

    code = "E-AUTH-002"


class CsrfRejected(NotAuthorized):
    """A dashboard form came without the CSRF token of the signed-in session."""

    code = "E-AUTH-003"


class Conflict(FleetError):
    """The request conflicts with what is stored (an Idempotency-Key reused for another
    request, a batch already running)."""

    code = "E-INPUT-005"


class StoreUnavailable(FleetError):
    """The database could not be reached after retries."""

    code = "E-STORE-001"


class StoreNotReady(FleetError):
    """The database exists but has not been initialised or upgraded (`fleet db upgrade`)."""

    code = "E-STORE-002"


class SecretKeyError(ConfigError):
    """FLEET_SECRET_KEY is missing or is not a list of Fernet keys (credentials need it)."""

    code = "E-VAULT-001"


class DecryptionFailed(FleetError):
    """A stored secret cannot be decrypted with any key of FLEET_SECRET_KEY."""

    code = "E-VAULT-002"


class CredentialUnavailable(FleetError):
    """A credential cannot be used now: expired without a way to refresh, or its refresh failed."""

    code = "E-VAULT-003"


class StorageError(FleetError):
    """The artifact storage (FLEET_ARTIFACTS_URL) refused a read, write or delete."""

    code = "E-ARTIFACT-001"


class ServerUnavailable(FleetError):
    """A throwaway test server (PostgreSQL, Redis) could not be found or started."""

    code = "E-TEST-001"


# Error codes written on run rows (``Run.error_code``), with what each means.
RUN_LEASE_EXPIRED = "E-RUN-002"
RUN_TIMEOUT = "E-RUN-004"
RUN_RUNTIME_GONE = "E-RUN-005"
RUN_WAIT_TIMEOUT = "E-RUN-006"
RUN_QUEUED_EXPIRED = "E-RUN-008"
RUN_NODE_FAILED = "E-NODE-001"
RUN_INVALID_GRAPH = "E-GRAPH-001"
RUN_UNUSABLE_RESOURCE = "E-RUN-009"

RUN_ERROR_CODES: dict[str, str] = {
    RUN_LEASE_EXPIRED: "the worker holding the run stopped heartbeating (crash, kill -9, "
                       "network split) and the run has used all its attempts",
    RUN_TIMEOUT: "the run's running time exceeded its graph's timeout_s",
    RUN_RUNTIME_GONE: "the runtime (worker process) executing the run went offline and the "
                      "run has used all its attempts",
    RUN_WAIT_TIMEOUT: "the run waited for a tool result or an approval longer than the "
                      "waiting timeout",
    RUN_QUEUED_EXPIRED: "the run stayed queued longer than FLEET_QUEUED_EXPIRY_S without a "
                        "worker claiming it",
    RUN_NODE_FAILED: "a node of the graph failed (after its retries); the detail names the "
                     "node, its block and the error",
    RUN_INVALID_GRAPH: "the run's graph version no longer exists or no longer validates "
                       "at execution time",
    RUN_UNUSABLE_RESOURCE: "a credential or artifact the run names was deleted, expired or "
                           "is unreadable by the time a worker started it; the detail names "
                           "the node and input",
}


def exception_classes() -> list[type[FleetError]]:
    """Every exception class of this module, root first (for the generated docs)."""
    found: list[type[FleetError]] = []
    for value in globals().values():
        if isinstance(value, type) and issubclass(value, FleetError):
            found.append(value)
    return found
