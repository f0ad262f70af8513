"""Rewrite migration 0001 from the current models (until the first release ships).

Usage: python scripts/regen_initial_migration.py

Safe to run while others edit models: it generates into a temporary directory
and replaces the file in one rename.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from alembic import command

from fleet.store.migrate import MIGRATIONS_DIR, alembic_config

TARGET = MIGRATIONS_DIR / "versions" / "0001_initial_schema.py"


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        scripts = Path(tmp) / "migrations"
        shutil.copytree(MIGRATIONS_DIR, scripts, ignore=shutil.ignore_patterns("__pycache__"))
        for old in (scripts / "versions").glob("*.py"):
            old.unlink()
        cfg = alembic_config(f"sqlite:///{tmp}/empty.sqlite")
        cfg.set_main_option("script_location", str(scripts))
        command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
        (generated,) = (scripts / "versions").glob("0001_*.py")
        text = re.sub(r"Create Date: .*", "Create Date: (regenerated)", generated.read_text())
        staged = TARGET.with_suffix(".tmp")
        staged.write_text(text)
        os.replace(staged, TARGET)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
