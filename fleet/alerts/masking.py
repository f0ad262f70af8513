"""Mask and group error samples so alerts show the shape of an error, not its data.

Numbers, UUIDs, hex strings, paths, URLs and e-mail addresses are replaced by
placeholders; errors that mask to the same text are grouped and counted.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

# Order matters: URLs and e-mails contain paths and numbers of their own.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,31}://[^\s'\"<>]+"), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"\b[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                r"[0-9a-fA-F]{12}\b"), "<uuid>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:[\\/][\w.~-]+){2,}[\\/]?"), "<path>"),
    (re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)"
                r"[0-9a-fA-F]{6,}\b"), "<hex>"),
    (re.compile(r"(?<![A-Za-z_<])\d+(?:\.\d+)?"), "<n>"),
)
MAX_SAMPLE_CHARS = 300


def mask(text: str) -> str:
    """``text`` with numbers, ids, hex, paths, URLs and e-mails replaced by placeholders."""
    out = " ".join(text.split())
    for pattern, placeholder in _RULES:
        out = pattern.sub(placeholder, out)
    if len(out) > MAX_SAMPLE_CHARS:
        out = out[: MAX_SAMPLE_CHARS - 1] + "…"
    return out


def group(errors: Iterable[str], limit: int) -> list[tuple[str, int]]:
    """The ``limit`` most frequent masked errors as ``(masked text, count)``, most first."""
    counts = Counter(mask(e) for e in errors if e and e.strip())
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
