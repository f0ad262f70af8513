"""Where notifications go: the Channel port and its Apprise implementation.

The recording double lives in :mod:`fleet.testing.alerts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fleet.redact import describe_urls, install, redact

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """The outcome of one send: ``ok`` and a loggable (redacted) description."""

    ok: bool
    detail: str


class Channel(Protocol):
    """Sends one notification to a list of destination URLs."""

    def send(self, urls: Sequence[str], title: str, body: str) -> Delivery:
        """Deliver to every URL; ``ok`` only when all of them accepted it."""
        ...


class AppriseChannel:
    """Delivery through Apprise (``discord://``, ``json://``, ``mailto://``, ...)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        install()
        self._timeout_s = timeout_s

    def send(self, urls: Sequence[str], title: str, body: str) -> Delivery:
        import apprise

        notifier = apprise.Apprise()
        bad = 0
        for url in urls:
            # Apprise takes per-URL timeouts as URL arguments (cto: connect, rto: read).
            sep = "&" if "?" in url else "?"
            if not notifier.add(f"{url}{sep}cto={self._timeout_s:g}&rto={self._timeout_s:g}"):
                bad += 1
        if bad == len(urls):
            return Delivery(False, f"no valid notification URL among {describe_urls(list(urls))}")
        try:
            ok = bool(notifier.notify(title=title, body=body))
        except Exception as exc:  # Apprise plugins may raise on odd input
            return Delivery(False, redact(f"apprise raised {type(exc).__name__}: {exc}"))
        dest = describe_urls(list(urls))
        if ok and not bad:
            return Delivery(True, f"delivered to {dest}")
        return Delivery(False, f"delivery failed for some of {dest}"
                        + (f" ({bad} invalid URL(s))" if bad else ""))
