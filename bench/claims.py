"""Lease contention: claims per second with 1 and 8 concurrent claimer processes.

On SQLite and on PostgreSQL (a throwaway server, or FLEET_TEST_POSTGRES_URL),
each claimer a separate OS process taking runs with ``leases.claim_next``
until none is left. Reports claims/s and the number of double claims (must be
0), and the 8-claimer rate as a ratio of the single-claimer rate measured in
the same run. Last line: one JSON object.

    python bench/claims.py [--runs N] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from fleet.store import migrate
from fleet.testing.contention import run_claimers, seed_queued, wall_seconds
from fleet.testing.servers import start_postgres


def measure(url: str, runs: int, processes: int) -> tuple[float, int]:
    """Claims per second and double claims for ``processes`` claimers over ``runs`` runs."""
    seed_queued(url, runs)
    results = run_claimers(url, processes)
    counts = Counter(run_id for r in results for run_id, _ in r.claims)
    doubles = sum(c - 1 for c in counts.values() if c > 1)
    missing = runs - len(counts)
    if missing:
        raise SystemExit(f"{missing} runs were never claimed")
    wall = wall_seconds(results)
    return runs / wall, doubles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=4000, help="queued runs per measurement")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run for CI")
    args = parser.parse_args()
    runs = 300 if args.smoke else args.runs
    out: dict[str, float | int] = {"runs": runs, "double_claims": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (1, 8):
            url = f"sqlite:///{Path(tmp) / f'claims-{n}.sqlite'}"
            migrate.upgrade(url)
            rate, doubles = measure(url, runs, n)
            out[f"sqlite_{n}"] = round(rate, 1)
            out["double_claims"] = int(out["double_claims"]) + doubles
            print(f"sqlite, {n} claimer(s): {rate:.0f} claims/s, {doubles} double", file=sys.stderr)
    server = start_postgres()
    try:
        migrate.upgrade(server.url)
        for n in (1, 8):
            rate, doubles = measure(server.url, runs, n)
            out[f"postgres_{n}"] = round(rate, 1)
            out["double_claims"] = int(out["double_claims"]) + doubles
            print(f"postgres, {n} claimer(s): {rate:.0f} claims/s, {doubles} double",
                  file=sys.stderr)
    finally:
        server.stop()
    out["sqlite_8_vs_1"] = round(float(out["sqlite_8"]) / float(out["sqlite_1"]), 2)
    out["postgres_8_vs_1"] = round(float(out["postgres_8"]) / float(out["postgres_1"]), 2)
    print(json.dumps(out))
    return 0 if out["double_claims"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
