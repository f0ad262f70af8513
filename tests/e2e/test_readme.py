"""The README is the contract: its shell blocks run as written, in order, from a fresh clone.

Every ```sh block of README.md (except those marked
``<!-- readme-test: skip (why) -->``) runs in one bash session in a scratch
directory holding what a fresh clone holds for them (``examples/``,
``dev.sqlite.example``), with ``fleet`` on the PATH and no FLEET_* variable
set. Each command's exit code must be the one the README promises: 0, or
``N`` when its line ends with ``# exit N``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP = "<!-- readme-test: skip"
EXIT = re.compile(r"#\s*exit\s+(\d+)\b")


@dataclass
class Command:
    """One command line of the README."""

    number: int
    line: str
    expected: int


def shell_blocks(text: str) -> list[list[str]]:
    """The lines of every ```sh block not marked to skip, in order."""
    blocks: list[list[str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            skipped = i > 0 and lines[i - 1].strip().startswith(SKIP)
            body: list[str] = []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            if not skipped:
                blocks.append(body)
        i += 1
    return blocks


def commands(text: str) -> list[Command]:
    """Every command of the runnable blocks, with the exit code its line promises."""
    found: list[Command] = []
    for block in shell_blocks(text):
        pending = ""
        for raw in block:
            line = pending + raw
            if line.rstrip().endswith("\\"):
                pending = line.rstrip()[:-1] + " "
                continue
            pending = ""
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            match = EXIT.search(line)
            found.append(Command(len(found) + 1, line, int(match.group(1)) if match else 0))
    return found


def script(cmds: list[Command], rc_file: Path) -> str:
    """One bash script running every command and recording its exit code."""
    out = ["set +e", f"rc_file={rc_file}"]
    for c in cmds:
        out.append(f"echo '>>> {c.number}: '{_quote(c.line)} >&2")
        out.append(c.line)
        out.append(f'echo "{c.number} $?" >> "$rc_file"')
    return "\n".join(out) + "\n"


def _output_of(log: str, number: int) -> str:
    """What command ``number`` printed (between its marker and the next one)."""
    start = log.find(f">>> {number}: ")
    if start < 0:
        return f"(command {number} never ran)"
    end = log.find(f">>> {number + 1}: ", start)
    return log[start: end if end >= 0 else start + 3000][:3000]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def test_the_parser_reads_blocks_lines_and_codes() -> None:
    text = ("intro\n```sh\nfleet a   # exit 3\n# a comment\n\nfleet b \\\n  --x\n```\n"
            f"{SKIP} (no) -->\n```sh\nfleet skipped\n```\n```\nnot shell\n```\n")
    cmds = commands(text)
    assert [(c.line.split("#")[0].strip(), c.expected) for c in cmds] == [
        ("fleet a", 3), ("fleet b    --x", 0)]


def test_the_readme_names_files_that_exist() -> None:
    for c in commands(README.read_text()):
        for word in c.line.split():
            word = word.lstrip("@").strip("\"'")
            if word.startswith("examples/"):
                assert (ROOT / word).exists(), f"README line {c.number} names {word}"


@pytest.mark.slow
def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    cmds = commands(README.read_text())
    assert len(cmds) > 20, "the README's walkthrough has gone missing"
    clone = tmp_path / "clone"
    clone.mkdir()
    shutil.copytree(ROOT / "examples", clone / "examples")
    shutil.copy(ROOT / "dev.sqlite.example", clone / "dev.sqlite.example")
    rc_file = tmp_path / "rc"
    (tmp_path / "readme.sh").write_text(script(cmds, rc_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "120"
    log = tmp_path / "readme.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(["bash", str(tmp_path / "readme.sh")], cwd=clone, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=420)
        except subprocess.TimeoutExpired:
            pytest.fail("the README walkthrough did not finish in 420 s:\n"
                        + log.read_text()[-4000:])
        finally:
            # `fleet dev &` and anything else the walkthrough left behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
    ran = dict(line.split() for line in rc_file.read_text().splitlines()) \
        if rc_file.exists() else {}
    drift = [f"line {c.number}: `{c.line.strip()}` exited {ran.get(str(c.number), 'never')}, "
             f"the README says {c.expected}"
             for c in cmds if ran.get(str(c.number)) != str(c.expected)]
    dev_log = clone / "dev.log"
    assert not drift, ("\n".join(drift) + "\n--- their output ---\n"
                       + "\n".join(_output_of(log.read_text(), c.number) for c in cmds
                                   if ran.get(str(c.number)) != str(c.expected))
                       + "\n--- the end of the output ---\n" + log.read_text()[-3000:]
                       + ("\n--- dev.log ---\n" + dev_log.read_text()[-3000:]
                          if dev_log.exists() else ""))
    assert "Traceback" not in log.read_text()
