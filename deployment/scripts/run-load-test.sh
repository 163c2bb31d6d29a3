#!/usr/bin/env bash
# The guide's "./deployment/scripts/run-load-test.sh": a headless Locust load test that ends in a
# verdict against the guide's criteria (exit 0 pass, 1 a criterion breached, 2 a bad setting,
# 3 the run failed). All logic is in `milkbot perf loadtest` (see --help); this only finds it.
#
#   LOAD_TEST_SCENARIO   smoke | basic (default: 100 users, 5m) | normal | peak | stress
#   LOAD_TEST_HOST       http://localhost:8501 (this machine only: localhost, 127.0.0.0/8, [::1])
#   LOAD_TEST_USERS, LOAD_TEST_SPAWN_RATE, LOAD_TEST_RUN_TIME   override the scenario's values
#   LOAD_TEST_TRADES     dataset size when nothing answers at the host (default 1000000): the run
#                        then starts its own platform in LOAD_TEST_HOME and stops it at the end
#
# Results: tests/performance/results/loadtest/<scenario>/ (report.html, summary.json, Locust's
# CSVs and scenario.html) and tests/performance/results/loadtest.json / loadtest.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
milkbot="$here/.venv/bin/milkbot"
[ -x "$milkbot" ] || milkbot="$(command -v milkbot || true)"
if [ -z "$milkbot" ]; then
  echo "milkbot is not installed: run the README's first command (pip install -e '.[test]')" >&2
  exit 127
fi
cd "$here"
# The run stops the server it started itself (also on Ctrl-C or TERM). Should the run be killed
# outright, this trap stops that server: the pid file names it and the run that started it
# (this script's child), so a server of any other run is never touched.
home="${LOAD_TEST_HOME:-$("$milkbot" perf home)}"
cleanup() {
  local pidfile="$home/serve.pid" serve parent
  [ -f "$pidfile" ] || return 0
  read -r serve parent <"$pidfile" || return 0
  [ "$parent" = "$$" ] || return 0
  if tr '\0' ' ' <"/proc/$serve/cmdline" 2>/dev/null | grep -q "milkbot serve"; then
    kill -INT -- "-$serve" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$milkbot" perf loadtest "$@"
