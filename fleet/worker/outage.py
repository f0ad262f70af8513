"""One log line when a dependency starts failing, one when it works again: never one per try."""

from __future__ import annotations

import logging
import threading


class OutageLog:
    """Edge-triggered logging of a recurring step (``liveness beat``, ``lease heartbeat``...)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._down: dict[str, str] = {}
        self._lock = threading.Lock()

    def failed(self, what: str, exc: BaseException, consequence: str = "retrying") -> None:
        """``what`` failed; logs a WARNING only if it was working before."""
        with self._lock:
            first = what not in self._down
            self._down[what] = type(exc).__name__
        if first:
            self._log.warning("%s failed (%s: %s); %s (logged once until it recovers)", what,
                              type(exc).__name__, str(exc).splitlines()[0][:160] if str(exc)
                              else "", consequence)

    def ok(self, what: str) -> None:
        """``what`` worked; logs once if it had been failing."""
        with self._lock:
            was = self._down.pop(what, None)
        if was is not None:
            self._log.warning("%s works again (after %s)", what, was)

    def down(self) -> list[str]:
        """The steps failing right now."""
        with self._lock:
            return sorted(self._down)
