"""Rewrite the configuration table in README.md from fleet.settings.Settings.

Usage: python scripts/settings_table.py [--check]
"""

from __future__ import annotations

import sys
from pathlib import Path

from fleet.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def table() -> str:
    """The Markdown table of every setting and its default."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        shown = "(unset)" if default is None else f"`{default}`"
        # A docstring may wrap; a table row may not.
        meaning = " ".join((field.description or "").split())
        lines.append(f"| `FLEET_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(lines)


def render(text: str) -> str:
    """``text`` with the table between the markers replaced."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{table()}\n{END}{tail}"


def main() -> int:
    text = README.read_text()
    new = render(text)
    if "--check" in sys.argv:
        if new != text:
            print("README.md configuration table is stale: run python scripts/settings_table.py")
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
