#!/usr/bin/env bash
# Set up (if needed), then run the demo on the embedded default: SQLite dev.sqlite
# (copied from dev.sqlite.example) and Dramatiq's in-memory broker, with worker
# threads and the periodic scheduler in one `fleet dev` process. Two runs are
# submitted from this terminal, as a user would from another one, and shown.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
fleet=.venv/bin/fleet
seconds="${FLEET_DEMO_SECONDS:-40}"

echo "== fleet dev --for $seconds (workers + scheduler in one process)"
"$fleet" dev --for "$seconds" &
dev_pid=$!
trap 'kill "$dev_pid" 2>/dev/null || true' EXIT
sleep 3

echo "== fleet runs submit hello --input who=Ada --wait"
"$fleet" runs submit hello --user demo --input who=Ada --wait --timeout 30
echo "== fleet runs submit fan-out-fan-in --quiet, then fleet runs watch"
run_id=$("$fleet" runs submit fan-out-fan-in --user demo --quiet)
"$fleet" runs watch "$run_id" --user demo --timeout 30
echo "== fleet runs show $run_id"
"$fleet" runs show "$run_id" --user demo
echo "== fleet runs trace $run_id"
"$fleet" runs trace "$run_id" --user demo
echo "== fleet schedules list --user demo"
"$fleet" schedules list --user demo
wait "$dev_pid" || true
trap - EXIT
echo "== fleet runs list --user demo (after dev stopped)"
"$fleet" runs list --user demo
