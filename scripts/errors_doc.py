"""Write docs/errors.md from fleet.errors: every exception class and every run error code.

Usage: python scripts/errors_doc.py [--check]
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from fleet import errors

DOC = Path(__file__).resolve().parent.parent / "docs" / "errors.md"


def render() -> str:
    """The whole page."""
    lines = [
        "# Errors",
        "",
        "Generated from `fleet/errors.py` by `python scripts/errors_doc.py`; a test keeps "
        "it current.",
        "",
        "Every error fleet raises on purpose has a stable code `E-AREA-NNN`. The CLI prints "
        "it after the message (and in `--json` errors), the API returns it, and run rows "
        "carry the run codes in `error_code`.",
        "",
        "## Exceptions",
        "",
        "| code | exception | meaning |",
        "|---|---|---|",
    ]
    for cls in errors.exception_classes():
        doc = " ".join((inspect.getdoc(cls) or "").split())
        lines.append(f"| `{cls.code}` | `{cls.__name__}` | {doc} |")
    lines += ["", "## Codes on runs (`Run.error_code`)", "", "| code | meaning |", "|---|---|"]
    for code, meaning in sorted(errors.RUN_ERROR_CODES.items()):
        lines.append(f"| `{code}` | {meaning} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    new = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text() != new:
            print("docs/errors.md is stale: run python scripts/errors_doc.py")
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
