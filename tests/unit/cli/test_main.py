"""The root command: nouns load on demand (so `fleet --help` imports no heavy module), the
table of nouns matches their modules, and the CLI's function-level imports say why."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fleet.cli.context import short_ids
from fleet.cli.main import COMMANDS, build_app, load_noun

CLI_DIR = Path(__file__).resolve().parents[3] / "fleet" / "cli"
HEAVY = ("sqlalchemy", "sqlmodel", "pydantic_settings", "fleet.store", "fleet.engine",
         "fleet.runs", "dramatiq", "httpx", "apprise", "yaml")


def _imported_after(args: list[str]) -> list[str]:
    code = ("import sys\nfrom fleet.cli.main import build_app\n"
            f"try:\n    build_app()(args={args!r}, prog_name='fleet')\n"
            "except SystemExit:\n    pass\n"
            "import json\nprint(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_help_and_version_import_no_heavy_module() -> None:
    for args in (["--help"], ["--version"]):
        loaded = _imported_after(args)
        heavy = [m for m in loaded if m.startswith(HEAVY)]
        assert heavy == [], f"fleet {' '.join(args)} imported {heavy[:10]}"


def test_a_noun_loads_its_own_module_only() -> None:
    loaded = _imported_after(["blocks", "--help"])
    assert "fleet.cli.blocks" in loaded
    assert not [m for m in loaded if m.startswith(("fleet.cli.runs", "fleet.cli.graphs",
                                                   "dramatiq", "sqlalchemy"))]


@pytest.mark.parametrize("noun", list(COMMANDS))
def test_each_noun_registers_the_name_and_help_of_the_table(noun: str) -> None:
    command = load_noun(noun)
    assert command.name == noun
    first = (command.help or "").strip().splitlines()[0]
    assert first == COMMANDS[noun][1]


def test_root_help_lists_every_noun_and_unknown_nouns_get_a_suggestion() -> None:
    runner = CliRunner()
    helped = runner.invoke(build_app(), ["--help"], env={"COLUMNS": "200"})
    assert helped.exit_code == 0
    for noun, (_, short) in COMMANDS.items():
        assert noun in helped.output and short[:30] in helped.output
    typo = runner.invoke(build_app(), ["rnus"])
    assert typo.exit_code == 2 and "runs" in typo.output


def _says_why(lines: list[str], index: int) -> bool:
    """Whether the import at ``lines[index]``, or the block of imports and comments just above
    it, carries a ``# lazy:`` comment."""
    while index >= 0:
        line = lines[index].strip()
        if "# lazy:" in line:
            return True
        if line and not line.startswith(("import ", "from ", "#")):
            return False
        index -= 1
    return False


def test_function_level_imports_in_the_cli_say_why() -> None:
    missing: set[str] = set()
    for path in sorted(CLI_DIR.glob("*.py")):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, ast.FunctionDef):
                continue
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom) and not _says_why(
                        lines, inner.lineno - 1):
                    missing.add(f"{path.name}:{inner.lineno}")
    assert missing == set(), f"function-level imports without a `# lazy:` reason: {missing}"


def test_short_ids_are_the_shortest_unique_prefixes_of_at_least_8() -> None:
    ids = ["abcdef0123" + "0" * 22, "abcdef0124" + "0" * 22, "99" + "0" * 30]
    assert short_ids(ids) == {ids[0]: ids[0][:10], ids[1]: ids[1][:10], ids[2]: ids[2][:10]}
    assert short_ids(ids[2:]) == {ids[2]: ids[2][:8]}
    assert short_ids(ids, wide=True) == {i: i for i in ids}


def test_shell_completion_of_nouns_and_verbs() -> None:
    fleet = str(Path(sys.executable).parent / "fleet")

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_FLEET_COMPLETE": "complete_bash", "COMP_WORDS": words,
               "COMP_CWORD": str(cword)}
        out = subprocess.run([fleet], env=env, capture_output=True, text=True, timeout=60,
                             check=True)
        return out.stdout.split()

    assert complete("fleet ru", 1) == ["runs", "runtimes"]
    assert complete("fleet runs re", 2) == ["retry", "reject"]
    assert "--operator" in complete("fleet runs cancel --op", 3)
