"""One filter language for runs, shared by the API, the dashboard and the CLI.

Fields: ``state`` (repeatable or comma-separated), ``graph``, ``user``, ``schedule``,
``error`` (an error code such as ``E-RUN-002``) and a time range on the creation time,
``since`` / ``until`` (ISO 8601, or a duration back from now: ``15m``, ``24h``, ``7d``).
:func:`parse` reads query parameters and names every bad field; :meth:`RunFilter.params`
writes them back, so a filtered list is a shareable URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fleet.clock import as_utc
from fleet.errors import InvalidInput
from fleet.store.models import RunState
from fleet.store.run_lists import Where

STATES: tuple[str, ...] = tuple(s.value for s in RunState)
FIELDS: tuple[str, ...] = ("state", "graph", "user", "schedule", "error", "since", "until")
_AGO = re.compile(r"^(\d+)([mhdw])$")
_AGO_S = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_MAX_TEXT = 256


@dataclass(frozen=True)
class RunFilter:
    """Which runs: every field narrows; an empty filter matches every run."""

    states: tuple[str, ...] = ()
    graph: str | None = None
    user: str | None = None
    schedule: str | None = None
    error: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self, scope_user: str | None) -> Where:
        """The store's filter for a caller limited to ``scope_user`` (None: everyone).

        A caller limited to their own runs who names another user gets an empty
        answer, exactly as if that user had no runs.
        """
        user = self.user
        foreign = scope_user is not None and user is not None and user != scope_user
        if scope_user is not None:
            user = scope_user
        return Where(states=self.states, graph_id=self.graph, user_id=user,
                     schedule_id=self.schedule, error_code=self.error,
                     created_from=self.since, created_to=self.until, nothing=foreign)

    def params(self) -> dict[str, str]:
        """The filter as query parameters (the inverse of :func:`parse`)."""
        out: dict[str, str] = {}
        if self.states:
            out["state"] = ",".join(self.states)
        for name in ("graph", "user", "schedule", "error"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain data (stored with batch operations and audit entries)."""
        return self.params()

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> RunFilter:
        """The filter :meth:`to_dict` stored (its times are absolute, so no clock is
        needed)."""
        return parse(stored, datetime(2000, 1, 1, tzinfo=UTC))

    def is_empty(self) -> bool:
        """Whether nothing narrows the filter."""
        return not self.params()

    def with_states(self, states: Iterable[str]) -> RunFilter | None:
        """The same filter restricted to ``states`` (intersected with its own, if any);
        None when no state is left (the filter matches nothing)."""
        wanted = tuple(s for s in states if not self.states or s in self.states)
        if not wanted:
            return None
        return RunFilter(wanted, self.graph, self.user, self.schedule, self.error,
                         self.since, self.until)


def _values(params: Mapping[str, Any], name: str) -> list[str]:
    raw = params.get(name)
    if raw is None:
        return []
    items = raw if isinstance(raw, list | tuple) else [raw]
    return [str(v) for v in items]


def _time(name: str, text: str, now: datetime, problems: list[str]) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    m = _AGO.match(text)
    if m:
        return now - timedelta(seconds=int(m.group(1)) * _AGO_S[m.group(2)])
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        problems.append(f"{name}: '{text}' is neither an ISO 8601 time nor a duration like "
                        "15m, 24h or 7d")
        return None


def parse(params: Mapping[str, Any], now: datetime) -> RunFilter:
    """A filter from query parameters; InvalidInput names every bad field."""
    problems: list[str] = []
    states: list[str] = []
    for value in _values(params, "state"):
        for s in (p.strip() for p in value.split(",")):
            if not s:
                continue
            if s not in STATES:
                problems.append(f"state: '{s}' is unknown; use one of {', '.join(STATES)}")
            elif s not in states:
                states.append(s)
    text: dict[str, str | None] = {}
    for name in ("graph", "user", "schedule", "error"):
        values = [v.strip() for v in _values(params, name) if v.strip()]
        if len(values) > 1:
            problems.append(f"{name}: give one value, not {len(values)}")
        one = values[0] if values else None
        if one is not None and len(one) > _MAX_TEXT:
            problems.append(f"{name}: longer than {_MAX_TEXT} characters")
        text[name] = one
    since = _time("since", (_values(params, "since") or [""])[0], now, problems)
    until = _time("until", (_values(params, "until") or [""])[0], now, problems)
    if since is not None and until is not None and since >= until:
        problems.append("until: must be after since")
    if problems:
        raise InvalidInput("invalid run filter", problems)
    return RunFilter(tuple(states), text["graph"], text["user"], text["schedule"],
                     text["error"], since, until)
