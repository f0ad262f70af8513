#!/usr/bin/env bash
# Set up a development environment on a fresh Debian machine:
# system packages that are missing (PostgreSQL binaries, redis-server, chromium for the
# browser test),
# then a virtualenv in .venv with fleet and its test tools installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# Debian's chromium for the dashboard's browser test (Playwright drives it; it never
# downloads a browser of its own).
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ "${#need[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

py=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    py="$candidate"; break
  fi
done
[ -n "$py" ] || { echo "error: Python 3.11 or newer is required" >&2; exit 1; }
[ -x .venv/bin/python ] || "$py" -m venv .venv
log=.venv/pip-install.log
if ! { .venv/bin/python -m pip install -q --upgrade pip &&
       .venv/bin/python -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "error: installing fleet's Python packages failed (log above, also in $log)" >&2
  exit 1
fi
echo "fleet installed in .venv ($(.venv/bin/fleet --help >/dev/null && echo ok))"
