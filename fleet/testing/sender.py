"""A run sender that records what it was asked to send: the double of the broker sender."""

from __future__ import annotations

import threading


class RecordingSender:
    """Records the run ids it was asked to send.

    ``fail=True`` makes every send raise, as a broker outage would.
    """

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[str] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, run_id: str) -> None:
        if self.fail:
            raise ConnectionError("broker unavailable (RecordingSender.fail is set)")
        with self._lock:
            self.sent.append(run_id)
