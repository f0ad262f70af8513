"""Claims: the message-driven claim a worker makes per message, with 1 and 8 claimers.

What a worker does for every ``execute_graph(run_id)`` message
(:func:`fleet.worker.execution.execute_message`): open a session, claim that
run with ``leases.claim`` (one ``UPDATE ... WHERE id = :id AND state =
'queued'`` with its event and the graph read; on PostgreSQL one statement),
commit. Here N queued runs (with their graph) are delivered through ONE shared
queue to 1, then 8, claimer OS processes, each taking a few ids at a time as a
worker prefetches. Every 10th run is delivered a second time, 100 deliveries
after its first (an at-least-once redelivery): it must be dropped, at the cost
of one statement and no lock wait, and never claimed twice.

On SQLite (a file per measurement) and PostgreSQL (a throwaway server, or
FLEET_TEST_POSTGRES_URL). Prints claims/s (runs won per second of wall time,
duplicate deliveries included in that time), the 8/1 ratio measured in the
same run, and the goals beside them; last line one JSON object. The 1- and
8-claimer measurements alternate, ``--repeats`` rounds of each (fresh runs
every time; 3, or 1 with ``--smoke``), and each reports its median round: on a
box shared with other jobs a single round measures their load as much as the
claim (a lone quiet round, which the best of them would pick, skews the ratio
as much as a loaded one). Claim latency
percentiles (p50/p99 of the runs won) show the queueing for the write lock.

Goals (issue 14): PostgreSQL >= 1 000 claims/s with 8 claimers, SQLite >= 300/s,
0 double claims, 8 claimers >= 1 claimer.

``--smoke`` exits 1 on a double claim, a lost run, a claimer error, a duplicate
delivery that cost more than its one statement on PostgreSQL, or an 8/1 ratio
under its smoke floor (see SMOKE_FLOOR_8_VS_1).

    python bench/claims.py [--runs 4000] [--repeats 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from fleet.store import migrate
from fleet.testing.contention import (
    deliveries,
    message_wall_seconds,
    run_message_claimers,
    seed_queued,
)
from fleet.testing.servers import start_postgres

GOALS = {"postgres_8": 1000.0, "sqlite_8": 300.0, "8_vs_1": 1.0}
# The smoke floor of the 8/1 ratio (goal: >= 1). Eight claimer processes and
# eight PostgreSQL backends on a 2-core CI box shared with other jobs: the claim
# is client-bound (the backends wait for their client most of the time) and the
# box is oversubscribed 8:2, so a smoke-sized run measures scheduling noise as
# much as the claim. Measured here: PostgreSQL 0.48-1.06 on a quiet box, 0.34
# with a soak worker running beside it; SQLite 0.65-0.79. Under 0.25 the 8
# claimers are not sharing the work at all (one holds up the others), which is a
# regression and not noise; between 0.25 and 1 is reported against the goal.
SMOKE_FLOOR_8_VS_1 = 0.25
# Statements a duplicate delivery may cost (BEGIN not counted): on PostgreSQL the
# claim's UPDATE that matches nothing; on SQLite the read of the run's state that
# drops it before the claim would queue for the write lock.
# With 8 claimers a few duplicates (measured 0-3 %) arrive while their first
# delivery still waits for SQLite's write lock: the run is still queued then, so
# they also try the claim (2 statements); hence 1.1 on SQLite.
DUP_STATEMENTS = {"postgres": 1.0, "sqlite": 1.1}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def measure(url: str, runs: int, processes: int) -> dict[str, Any]:
    """Claim ``runs`` fresh runs (plus their duplicate deliveries) with ``processes`` claimers."""
    ids = seed_queued(url, runs, with_graph=True)
    messages = deliveries(ids)
    results = run_message_claimers(url, processes, messages)
    counts = Counter(run_id for r in results for run_id, _ in r.claims)
    won = sum(len(r.claims) for r in results)
    dropped = sum(r.dropped for r in results)
    wall = message_wall_seconds(results)
    latencies = [t for r in results for t in r.claim_times]
    return {
        "claims_per_s": won / wall,
        "deliveries_per_s": len(messages) / wall,
        "double_claims": sum(c - 1 for c in counts.values() if c > 1),
        "lost": runs - len(counts),
        "errors": [e for r in results for e in r.errors],
        "duplicates": len(messages) - runs,
        "dropped": dropped,
        "claim_ms": 1000 * sum(r.claim_s for r in results) / max(1, won),
        "claim_p50_ms": 1000 * _percentile(latencies, 0.5),
        "claim_p99_ms": 1000 * _percentile(latencies, 0.99),
        "dropped_ms": 1000 * sum(r.dropped_s for r in results) / max(1, dropped),
        "dropped_max_ms": 1000 * max(r.dropped_max_s for r in results),
        "dropped_statements": sum(r.dropped_statements for r in results) / max(1, dropped),
    }


def median_rounds(url_for: Any, runs: int, repeats: int) -> dict[int, dict[str, Any]]:
    """1 then 8 claimers, ``repeats`` times alternately (``url_for(n, round)`` names the
    database); each count's median round (the lower of two middles), with every round's
    claims/s under "rounds".
    Double claims, lost runs and errors of every round are kept, not only the median's."""
    found: dict[int, list[dict[str, Any]]] = {1: [], 8: []}
    for i in range(repeats):
        for n in (1, 8):
            found[n].append(measure(url_for(n, i), runs, n))
    median: dict[int, dict[str, Any]] = {}
    for n, rounds in found.items():
        ranked = sorted(rounds, key=lambda m: m["claims_per_s"])
        top = dict(ranked[(len(ranked) - 1) // 2])
        top["rounds"] = [m["claims_per_s"] for m in rounds]
        top["double_claims"] = sum(m["double_claims"] for m in rounds)
        top["lost"] = sum(m["lost"] for m in rounds)
        top["errors"] = [e for m in rounds for e in m["errors"]]
        median[n] = top
    return median


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4000, help="queued runs per measurement")
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds of each claimer count, the median one reported "
                             "(default 3, 1 with --smoke)")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run for CI")
    args = parser.parse_args(argv)
    runs = 1000 if args.smoke else args.runs
    if args.repeats is None:
        args.repeats = 1 if args.smoke else 3
    out: dict[str, Any] = {"bench": "claims", "smoke": args.smoke, "runs": runs,
                           "repeats": args.repeats,
                           "duplicate_every": 10, "double_claims": 0, "lost": 0, "errors": 0}
    failures: list[str] = []

    def record(db: str, n: int, m: dict[str, Any]) -> None:
        key = f"{db}_{n}"
        out[key] = round(m["claims_per_s"], 1)
        out[f"{key}_deliveries_per_s"] = round(m["deliveries_per_s"], 1)
        out[f"{key}_claim_ms"] = round(m["claim_ms"], 3)
        out[f"{key}_claim_p50_ms"] = round(m["claim_p50_ms"], 3)
        out[f"{key}_claim_p99_ms"] = round(m["claim_p99_ms"], 2)
        out[f"{key}_rounds"] = [round(r, 1) for r in m["rounds"]]
        out[f"{key}_dup_ms"] = round(m["dropped_ms"], 3)
        out[f"{key}_dup_max_ms"] = round(m["dropped_max_ms"], 2)
        out[f"{key}_dup_statements"] = round(m["dropped_statements"], 2)
        out["double_claims"] += m["double_claims"]
        out["lost"] += m["lost"]
        out["errors"] += len(m["errors"])
        goal = GOALS.get(key)
        print(f"{db}, {n} claimer(s): {m['claims_per_s']:.0f} claims/s"
              + (f" (goal >= {goal:.0f})" if goal else "")
              + f" (median of {', '.join(f'{r:.0f}' for r in m['rounds'])}), "
              f"{m['claim_ms']:.2f} ms per claim (p50 {m['claim_p50_ms']:.2f}, "
              f"p99 {m['claim_p99_ms']:.1f}); "
              f"{m['dropped']} of {m['duplicates']} "
              f"duplicate deliveries dropped, {m['dropped_ms']:.2f} ms each (max "
              f"{m['dropped_max_ms']:.1f}), {m['dropped_statements']:.2f} statement(s) each; "
              f"{m['double_claims']} double, {m['lost']} lost", file=sys.stderr)
        for error in m["errors"][:5]:
            print(f"  claimer error: {error}", file=sys.stderr)
        if m["dropped"] != m["duplicates"]:
            failures.append(f"{key}: {m['duplicates'] - m['dropped']} duplicates not dropped")
        if m["dropped_statements"] > DUP_STATEMENTS[db]:
            failures.append(f"{key}: a duplicate delivery cost {m['dropped_statements']:.2f} "
                            f"statements (at most {DUP_STATEMENTS[db]})")

    with tempfile.TemporaryDirectory() as tmp:
        def sqlite_url(n: int, i: int) -> str:
            url = f"sqlite:///{Path(tmp) / f'claims-{n}-{i}.sqlite'}"
            migrate.upgrade(url)
            return url

        for n, m in median_rounds(sqlite_url, runs, args.repeats).items():
            record("sqlite", n, m)
    server = start_postgres()
    try:
        migrate.upgrade(server.url)
        for n, m in median_rounds(lambda n, i: server.url, runs, args.repeats).items():
            record("postgres", n, m)
    finally:
        server.stop()
    for db in ("sqlite", "postgres"):
        ratio = out[f"{db}_8"] / out[f"{db}_1"]
        out[f"{db}_8_vs_1"] = round(ratio, 2)
        print(f"{db}: 8 claimers / 1 = {ratio:.2f} (goal >= {GOALS['8_vs_1']:.1f}"
              + (f", smoke floor {SMOKE_FLOOR_8_VS_1}" if args.smoke else "") + ")",
              file=sys.stderr)
        if args.smoke and ratio < SMOKE_FLOOR_8_VS_1:
            failures.append(f"{db}: 8/1 = {ratio:.2f} is below the smoke floor "
                            f"{SMOKE_FLOOR_8_VS_1}")
    out["goals"] = {"postgres_8": GOALS["postgres_8"], "sqlite_8": GOALS["sqlite_8"],
                    "8_vs_1": GOALS["8_vs_1"], "double_claims": 0}
    out["goals_met"] = {
        "postgres_8": out["postgres_8"] >= GOALS["postgres_8"],
        "sqlite_8": out["sqlite_8"] >= GOALS["sqlite_8"],
        "postgres_8_vs_1": out["postgres_8_vs_1"] >= GOALS["8_vs_1"],
        "sqlite_8_vs_1": out["sqlite_8_vs_1"] >= GOALS["8_vs_1"],
        "double_claims": out["double_claims"] == 0,
    }
    if out["double_claims"] or out["lost"] or out["errors"]:
        failures.append(f"{out['double_claims']} double claims, {out['lost']} lost runs, "
                        f"{out['errors']} claimer errors")
    if args.smoke:
        out["smoke_floor_8_vs_1"] = SMOKE_FLOOR_8_VS_1
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    print(json.dumps(out))
    # double claims and lost runs fail at any size; ratios only at smoke size
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
