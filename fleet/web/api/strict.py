"""Unknown query parameters are refused, not ignored.

A misspelt filter (``stat=failed``) silently ignored would list, count, or worse batch-cancel
every run; the API answers 422 naming the parameter instead. The known ones are read from
the app's own OpenAPI document, so the rule follows the routes as they are declared.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fastapi import FastAPI, Request

from fleet.errors import InvalidInput


@cache
def _templates(app_id: int, doc: tuple[tuple[str, str, frozenset[str]], ...]
               ) -> list[tuple[re.Pattern[str], bool, str, frozenset[str]]]:
    compiled = []
    for path, method, names in doc:
        literal = "{" not in path
        pattern = re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(path)) + "$")
        compiled.append((pattern, literal, method, names))
    return compiled


def _doc(app: FastAPI) -> tuple[tuple[str, str, frozenset[str]], ...]:
    rows = []
    for path, ops in app.openapi().get("paths", {}).items():
        for method, op in ops.items():
            params: list[dict[str, Any]] = op.get("parameters", [])
            rows.append((path, method.upper(),
                         frozenset(p["name"] for p in params if p.get("in") == "query")))
    return tuple(rows)


def known_query(app: FastAPI, method: str, path: str) -> frozenset[str] | None:
    """The query parameters the operation for ``method path`` declares (None: unknown
    operation). A literal path wins over a template that also matches it."""
    found = [(literal, names) for pattern, literal, m, names in _templates(id(app), _doc(app))
             if m == method and pattern.match(path)]
    if not found:
        return None
    found.sort(key=lambda f: not f[0])
    return found[0][1]


def reject_unknown_query(request: Request) -> None:
    """A dependency of every API route."""
    known = known_query(request.app, request.method, request.url.path)
    if known is None:
        return
    unknown = sorted({k for k in request.query_params if k not in known})
    if unknown:
        raise InvalidInput("unknown query parameter(s)",
                           [f"query.{k}: not a parameter of this route"
                            + (f" (it takes {', '.join(sorted(known))})" if known else "")
                            for k in unknown])
