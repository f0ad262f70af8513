"""Keyset cursors: an opaque, URL-safe position in an ordered list.

A cursor encodes the sort values of the last row shown; the next page continues after
them with a row-value comparison, so a deep page costs what the first one does.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from fleet.clock import as_utc
from fleet.errors import InvalidInput


def encode(*values: Any) -> str:
    """A cursor after a row whose sort values are ``values`` (str, int, float, datetime)."""
    raw = [{"t": as_utc(v).isoformat()} if isinstance(v, datetime) else v for v in values]
    text = json.dumps(raw, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(text).decode().rstrip("=")


def decode(cursor: str, arity: int) -> list[Any]:
    """The sort values of a cursor, or InvalidInput naming the ``cursor`` field."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != arity:
            raise ValueError("arity")
        values: list[Any] = []
        for v in raw:
            if isinstance(v, dict):
                values.append(as_utc(datetime.fromisoformat(str(v["t"]))))
            elif isinstance(v, str | int | float) and not isinstance(v, bool):
                values.append(v)
            else:
                raise ValueError("value")
        return values
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidInput("invalid cursor", ["cursor: not a cursor returned by this list; "
                                              "start again without it"]) from exc
