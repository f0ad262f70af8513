"""Per-node retry policies: parsing, validation and the decision to try a node again.

A node may declare in the graph file::

    - id: fetch
      block: http_request
      retry:
        max_attempts: 3        # attempts in all (default 1: no retry)
        backoff_s: 2           # wait before the 2nd attempt (default 1); doubles each time
        max_backoff_s: 30      # the longest wait between two attempts (default 60)
        errors: [ConnectError, TimeoutError]   # retry only these (default: any error)

``errors`` names exception classes: an error matches when its class or one of its
base classes has that name (``OSError`` matches ``ConnectionRefusedError``), by
its short name or its ``module.QualName``. An error that does not match fails
the node at once, as does the last attempt's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_NODE_ATTEMPTS = 100
MAX_BACKOFF_S = 86_400.0
DEFAULT_BACKOFF_S = 1.0
DEFAULT_MAX_BACKOFF_S = 60.0
FIELDS = ("max_attempts", "backoff_s", "max_backoff_s", "errors")


@dataclass(frozen=True)
class RetryPolicy:
    """How often, how soon and on which errors a failed node is executed again."""

    max_attempts: int = 1
    backoff_s: float = DEFAULT_BACKOFF_S
    max_backoff_s: float = DEFAULT_MAX_BACKOFF_S
    errors: tuple[str, ...] = ()  # exception class names; empty: any error

    def delay_s(self, attempt: int) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): exponential, capped."""
        return min(self.max_backoff_s, self.backoff_s * 2 ** max(0, attempt - 1))

    def matches(self, error_types: Sequence[str]) -> bool:
        """Whether an error whose class (and base classes) are ``error_types`` is retried."""
        return not self.errors or any(name in self.errors for name in error_types)

    def allows(self, attempt: int, error_types: Sequence[str]) -> bool:
        """Whether failed attempt ``attempt`` may be followed by another one."""
        return attempt < self.max_attempts and self.matches(error_types)


def error_types(exc: BaseException) -> tuple[str, ...]:
    """The names an ``errors:`` entry may use for ``exc``: each class of its MRO, short and full."""
    names: list[str] = []
    for cls in type(exc).__mro__:
        if cls is object:
            continue
        names += [cls.__name__, f"{cls.__module__}.{cls.__qualname__}"]
    return tuple(names)


def _number(raw: dict[str, Any], key: str, default: float, where: str,
            problems: list[str]) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not 0 <= value <= MAX_BACKOFF_S:
        problems.append(f"{where} '{key}': must be a number of seconds from 0 to "
                        f"{MAX_BACKOFF_S:g}, got {value!r}")
        return default
    return float(value)


def _class_names(raw: dict[str, Any], where: str, problems: list[str]) -> tuple[str, ...]:
    value = raw.get("errors", [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(f"{where} 'errors': must be a list of exception class names, "
                        f"got {value!r}")
        return ()
    names: list[str] = []
    for item in value:
        if not isinstance(item, str) or not all(p.isidentifier() for p in item.split(".")):
            problems.append(f"{where} 'errors': {item!r} is not an exception class name "
                            "(e.g. TimeoutError or httpx.ConnectError)")
        else:
            names.append(item)
    return tuple(names)


def parse_retry(raw: Any, node_id: str, problems: list[str]) -> RetryPolicy | None:
    """The policy of node ``node_id`` from its ``retry:`` mapping (None when absent).

    Every bad field is appended to ``problems``, naming the node and the field;
    a bad field falls back to its default so the other fields are checked too.
    """
    if raw is None:
        return None
    where = f"node '{node_id}' retry"
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with max_attempts, backoff_s, "
                        f"max_backoff_s and errors, got {raw!r}")
        return None
    for key in raw:
        if key is True:  # YAML 1.1 reads a bare `on:` key as the boolean true
            problems.append(f"{where}: YAML reads the key 'on' as true; name the errors to "
                            "retry with 'errors'")
        elif key not in FIELDS:
            problems.append(f"{where}: unknown field {key!r} (fields: {', '.join(FIELDS)})")
    attempts = raw.get("max_attempts", 1)
    if isinstance(attempts, bool) or not isinstance(attempts, int) \
            or not 1 <= attempts <= MAX_NODE_ATTEMPTS:
        problems.append(f"{where} 'max_attempts': must be an integer from 1 to "
                        f"{MAX_NODE_ATTEMPTS}, got {attempts!r}")
        attempts = 1
    backoff = _number(raw, "backoff_s", DEFAULT_BACKOFF_S, where, problems)
    cap = _number(raw, "max_backoff_s", max(DEFAULT_MAX_BACKOFF_S, backoff), where, problems)
    if cap < backoff:
        problems.append(f"{where} 'max_backoff_s': {cap:g} is less than backoff_s "
                        f"{backoff:g}")
        cap = backoff
    return RetryPolicy(attempts, backoff, cap, _class_names(raw, where, problems))


def retry_note(node_id: str, attempt: int, policy: RetryPolicy, error: str | None,
               delay_s: float) -> str:
    """The run event's text for a failed attempt that will be retried."""
    return (f"node '{node_id}' attempt {attempt} of {policy.max_attempts} failed ({error}); "
            f"attempt {attempt + 1} in {delay_s:g} s")
