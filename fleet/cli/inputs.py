"""Run inputs from the command line: ``--input name=value`` and ``--inputs-json``.

``--inputs-json`` takes a JSON object inline, ``@FILE`` to read it from a
file, or ``-`` to read it from stdin (inputs larger than one argument allows).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fleet.errors import InvalidInput


def _json_source(text: str, problems: list[str], option: str = "--inputs-json") -> str | None:
    if text == "-":
        return sys.stdin.read()
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            return path.read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(f"{option}: cannot read {path}: {exc.strerror or exc}")
            return None
        except UnicodeDecodeError as exc:
            problems.append(f"{option}: {path} is not UTF-8 text ({exc.reason})")
            return None
    return text


def parse_inputs(pairs: list[str], json_text: str | None = None) -> dict[str, Any]:
    """``name=value`` pairs (values parsed as JSON when they are JSON) over a JSON object."""
    problems: list[str] = []
    inputs: dict[str, Any] = {}
    source = _json_source(json_text, problems) if json_text else None
    if source is not None:
        try:
            loaded = json.loads(source)
        except json.JSONDecodeError as exc:
            problems.append(f"--inputs-json is not valid JSON: {exc}")
        else:
            if isinstance(loaded, dict):
                inputs.update(loaded)
            else:
                problems.append("--inputs-json must be a JSON object of name -> value, not "
                                f"{type(loaded).__name__}")
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            problems.append(f"--input '{pair}' is not of the form name=value")
            continue
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        inputs[key.strip()] = value
    if problems:
        raise InvalidInput("invalid inputs; nothing was submitted", problems)
    return inputs


def read_json_value(text: str, option: str) -> Any:
    """A JSON value given inline, as ``@FILE``, or as ``-`` (standard input)."""
    problems: list[str] = []
    source = _json_source(text, problems, option)
    if source is not None:
        try:
            return json.loads(source)
        except json.JSONDecodeError as exc:
            problems.append(f"{option} is not valid JSON: {exc}")
    raise InvalidInput(f"invalid {option}; nothing was changed", problems)


def parse_credentials(pairs: list[str]) -> dict[str, str]:
    """``--credential node.pin=ID`` pairs as the credentials map of a run or schedule.

    Only credential *ids* travel here, never secrets.
    """
    problems: list[str] = []
    credentials: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        node, dot, pin = key.strip().rpartition(".")
        if not sep or not dot or not node or not pin or not value.strip():
            problems.append(f"--credential '{pair}' is not of the form node.pin=CREDENTIAL_ID")
            continue
        credentials[f"{node}.{pin}"] = value.strip()
    if problems:
        raise InvalidInput("invalid credentials; nothing was submitted", problems)
    return credentials
