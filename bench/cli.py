"""Command-line start-up: ``fleet --help``, ``fleet runs list`` and ``fleet runs submit``
against plain ``python -c pass``, each a fresh process, measured in the same run.

The commands run the installed ``fleet`` console script (next to this Python) in a
scratch directory holding a SQLite database with the ``hello`` example graph (the
submitted runs stay queued: no worker runs). Each figure is the best and the median
of N runs; the ratios are medians over the median of ``python -c pass``.

The floor: ``fleet --help`` must start in under 0.3 s (best of N). ``--smoke`` takes a
few seconds and exits 1 when the floor is broken (CI). Prints a table and, on its last
line, one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLEET = str(Path(sys.executable).parent / "fleet")
HELP_FLOOR_S = 0.3


def timed(args: list[str], cwd: Path, env: dict[str, str], runs: int) -> tuple[float, float]:
    """Best and median wall time of ``runs`` fresh processes (after one warm-up)."""
    times: list[float] = []
    for i in range(runs + 1):
        t0 = time.perf_counter()
        done = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): "
                             f"{done.stderr.decode()[-500:]}")
        if i:  # the first run warms the file cache
            times.append(elapsed)
    return min(times), statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run for CI")
    parser.add_argument("--runs", type=int, default=None, help="processes per command")
    args = parser.parse_args()
    runs = args.runs or (3 if args.smoke else 15)
    if not Path(FLEET).exists():
        raise SystemExit(f"no fleet console script at {FLEET}: run scripts/setup.sh first")
    with tempfile.TemporaryDirectory(prefix="fleet-bench-cli-") as tmp:
        cwd = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
        env["FLEET_DATABASE_URL"] = f"sqlite:///{cwd / 'bench.sqlite'}"
        for setup in (["db", "upgrade", "--empty"],
                      ["graphs", "add", str(ROOT / "examples" / "hello.yaml")]):
            subprocess.run([FLEET, *setup], cwd=cwd, env=env, check=True,
                           stdout=subprocess.DEVNULL)
        commands = {
            "python_pass": [sys.executable, "-c", "pass"],
            "help": [FLEET, "--help"],
            "runs_list": [FLEET, "runs", "list"],
            "runs_submit": [FLEET, "runs", "submit", "hello", "--input", "who=bench", "-q"],
        }
        results = {name: timed(cmd, cwd, env, runs) for name, cmd in commands.items()}
    base = results["python_pass"][1]
    print(f"{'command':<14}{'best s':>9}{'median s':>10}{'x python':>10}")
    for name, (best, median) in results.items():
        print(f"{name:<14}{best:>9.3f}{median:>10.3f}{median / base:>10.1f}")
    help_best = results["help"][0]
    ok = help_best < HELP_FLOOR_S
    figures = {
        "bench": "cli", "smoke": args.smoke, "runs": runs,
        **{f"{name}_s": round(median, 4) for name, (_, median) in results.items()},
        **{f"{name}_best_s": round(best, 4) for name, (best, _) in results.items()},
        **{f"{name}_x_python": round(median / base, 1)
           for name, (_, median) in results.items() if name != "python_pass"},
        "help_floor_s": HELP_FLOOR_S, "floor_ok": ok,
    }
    print(json.dumps(figures))
    if not ok:
        print(f"fleet --help took {help_best:.3f}s at best: over the {HELP_FLOOR_S}s floor",
              file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
