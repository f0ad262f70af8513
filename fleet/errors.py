"""The exception root of fleet and its few subclasses.

Every error carries a stable ``code`` so the CLI, the API and run rows can
name it, and a message that says what was wrong and what to do.
"""

from __future__ import annotations


class FleetError(Exception):
    """Root of every error fleet raises on purpose."""

    code = "E-FLEET"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(FleetError):
    """The settings are inconsistent or incomplete."""

    code = "E-CONFIG"


class NotFound(FleetError):
    """The named object does not exist (or is not visible to the caller)."""

    code = "E-NOT-FOUND"


class NotAuthorized(FleetError):
    """The caller may not act on this object."""

    code = "E-NOT-AUTHORIZED"


class InvalidInput(FleetError):
    """Input was malformed; nothing was changed."""

    code = "E-INVALID"

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


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


class StoreUnavailable(FleetError):
    """The database could not be reached after retries."""

    code = "E-STORE"


# Error codes written on run rows (stable, documented in docs/errors.md).
RUN_LEASE_EXPIRED = "E-RUN-002"
RUN_QUEUED_EXPIRED = "queued_expired"
RUN_NODE_FAILED = "E-NODE-001"
RUN_TIMEOUT = "E-RUN-004"
RUN_RUNTIME_GONE = "E-RUN-005"
RUN_WAIT_TIMEOUT = "E-RUN-006"
RUN_INVALID_GRAPH = "E-GRAPH-001"
