"""Keep secrets out of logs, alerts and stored results: URLs, tokens, passwords.

Apprise URLs carry their secrets in the URL itself
(``discord://webhook_id/token``), so anything that looks like a URL is cut
down to its scheme, and bearer tokens and ``key=value`` secrets are masked.

Known secret values (a credential decrypted for a run) are masked exactly:
:class:`SecretSet` replaces each of them with ``***`` in text and in JSON-like
data, and while a process holds decrypted secrets (:func:`remember` /
:func:`forget`) every log record it creates is masked too
(:func:`install_secret_masking`), and so is everything :func:`redact` returns.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

_URL = re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,31})://[^\s'\"<>]+")
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_KV = re.compile(r"(?i)\b(token|secret|password|passwd|apikey|api_key|key|webhook)=([^&\s'\"]+)")
# urllib3 (under Apprise) logs request lines whose paths carry webhook tokens.
_REQUEST_LINE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) /\S*")
MASK = "***"


def redact(text: str) -> str:
    """``text`` with known secrets, URLs (to ``scheme://***``) and tokens masked."""
    text = _active.scrub_text(text)
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


# --- exact secret values ------------------------------------------------------------------

MIN_SECRET_CHARS = 4  # shorter values would mask ordinary text; credentials are longer


class SecretSet:
    """Secret strings replaced by ``***`` wherever they appear, the longest first."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self.add(*values)

    def add(self, *values: str) -> None:
        """Mask these values too (values shorter than MIN_SECRET_CHARS are ignored)."""
        fresh = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_CHARS}
        if fresh - self._values:
            self._values |= fresh
            self._ordered = sorted(self._values, key=len, reverse=True)

    def values(self) -> list[str]:
        """The masked values, longest first."""
        return list(self._ordered)

    def __bool__(self) -> bool:
        return bool(self._ordered)

    def scrub_text(self, text: str) -> str:
        """``text`` with every secret replaced by ``***``."""
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def scrub(self, value: Any) -> Any:
        """``value`` (text, or JSON-like data: dicts, lists, tuples) with every secret masked."""
        if not self._ordered:
            return value
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(v) for v in value)
        return value


_active_lock = threading.Lock()
_active_counts: Counter[str] = Counter()
_active = SecretSet()


def remember(values: Iterable[str]) -> None:
    """Mask ``values`` in every log record and :func:`redact` result until :func:`forget`."""
    global _active
    values = [v for v in values if len(v) >= MIN_SECRET_CHARS]
    if not values:
        return
    with _active_lock:
        _active_counts.update(values)
        _active = SecretSet(_active_counts)


def forget(values: Iterable[str]) -> None:
    """Undo one :func:`remember` of ``values`` (another holder may still keep them masked)."""
    global _active
    values = [v for v in values if len(v) >= MIN_SECRET_CHARS]
    if not values:  # most runs use no secret: nothing to rebuild
        return
    with _active_lock:
        _active_counts.subtract(values)
        for v in [v for v, n in _active_counts.items() if n <= 0]:
            del _active_counts[v]
        _active = SecretSet(_active_counts)


def active_secrets() -> SecretSet:
    """The secrets this process is masking now."""
    return _active


def mask_record(record: logging.LogRecord) -> None:
    """Mask the process's known secrets in a log record's message and traceback."""
    secrets = _active
    if not secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed record: leave it to the handler
        return
    masked = secrets.scrub_text(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        text = logging.Formatter().formatException(record.exc_info)
        record.exc_text = secrets.scrub_text(text)


class SecretFilter(logging.Filter):
    """A logging filter masking the secrets the process holds (see :func:`remember`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask_record(record)
        return True


_factory_installed = False


def install_secret_masking() -> None:
    """Mask known secrets in every log record the process creates, whatever its handler.

    A filter only sees the records of the logger or handler it is attached to;
    wrapping the record factory reaches every logger, library and test capture.
    """
    global _factory_installed
    with _active_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            mask_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
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
