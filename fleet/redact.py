"""Keep secrets out of logs, alerts and stored results: URLs, tokens, passwords.

Apprise URLs carry their secrets in the URL itself
(``discord://webhook_id/token``), so anything that looks like a URL is cut
down to its scheme, and bearer tokens and ``key=value`` secrets are masked.
"""

from __future__ import annotations

import logging
import re
from typing import Any

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,31})://[^\s'\"<>]+")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KV = re.compile(r"(?i)\b(token|secret|password|passwd|apikey|api_key|key|webhook)=([^&\s'\"]+)")
# urllib3 (under Apprise) logs request lines whose paths carry webhook tokens.
_REQUEST_LINE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) /\S*")
MASK = "***"


def redact(text: str) -> str:
    """``text`` with every URL reduced to ``scheme://***`` and tokens masked."""
    text = _URL.sub(lambda m: f"{m.group(1)}://{MASK}", text)
    text = _REQUEST_LINE.sub(lambda m: f"{m.group(1)} /{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _KV.sub(lambda m: f"{m.group(1)}={MASK}", text)


def redact_url(url: str | None) -> str:
    """A connection URL (database, Redis) with its password masked, for logs and banners."""
    if not url or "@" not in url:
        return url or ""
    scheme, _, rest = url.partition("://")
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' + MASK if ':' in creds else user}@{host}"


def describe_urls(urls: list[str]) -> str:
    """A loggable description of destinations: their schemes only."""
    schemes = [u.split("://", 1)[0] if "://" in u else "?" for u in urls]
    return ", ".join(f"{s}://{MASK}" for s in schemes) or "(none)"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts URLs and tokens in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to the handler
            return True
        record.msg = redact(message)
        record.args = None
        return True


_installed: set[str] = set()
LOGGERS = ("apprise", "fleet.alerts", "urllib3.connectionpool")


def install(*logger_names: str) -> None:
    """Attach the redacting filter to the named loggers (once each)."""
    for name in logger_names or LOGGERS:
        if name in _installed:
            continue
        logging.getLogger(name).addFilter(RedactingFilter())
        _installed.add(name)


_SECRET_KEY = re.compile(r"(?i)(secret|password|passwd|token|api_?key|authorization|cookie"
                         r"|credential|private_?key)")


def redact_data(value: Any, *, depth: int = 0) -> Any:
    """JSON-like ``value`` with secrets masked, for showing run inputs and outputs.

    Values under a key that names a secret (``password``, ``api_key``, ``token``, ...)
    become ``***``; strings are passed through :func:`redact` (URLs, bearer tokens,
    ``key=value`` secrets).
    """
    if depth > 32:
        return MASK
    if isinstance(value, dict):
        return {k: (MASK if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "")
                    else redact_data(v, depth=depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v, depth=depth + 1) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
