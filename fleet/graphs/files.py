"""Reading graph files (JSON or YAML) into definitions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fleet.errors import InvalidInput


def load_graph_file(path: str | Path) -> dict[str, Any]:
    """Read a graph definition from a JSON or YAML file (by extension, else either)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read graph file {p}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"graph file {p} is not UTF-8 text",
                           [f"byte {exc.start}: {exc.reason}; save the file as UTF-8"]) from None
    is_json = p.suffix.lower() == ".json"
    try:
        # YAML is a superset of JSON, so other extensions read either.
        data = json.loads(text) if is_json else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        kind = "JSON" if is_json else "YAML"
        raise InvalidInput(f"graph file {p} is not valid {kind}", [str(exc)]) from None
    if not isinstance(data, dict):
        raise InvalidInput(f"graph file {p} must hold a mapping (id, nodes, links, ...), "
                           f"not {type(data).__name__}")
    return data
