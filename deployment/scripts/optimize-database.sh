#!/usr/bin/env bash
# The guide's "./deployment/scripts/optimize-database.sh": creates any missing index the
# analytics need, ANALYZE, VACUUM (ANALYZE), then reports sizes, index usage, unused and
# duplicate indexes. It calls `milkbot db optimize`, which stops at the first failing step with
# a non-zero exit (the original ran psql without ON_ERROR_STOP and always "succeeded").
# Database: MILKBOT_DATABASE_URL, or the embedded server under MILKBOT_HOME.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
milkbot="$here/.venv/bin/milkbot"
[ -x "$milkbot" ] || milkbot="$(command -v milkbot || true)"
if [ -z "$milkbot" ]; then
  echo "milkbot is not installed: run the README's first command (pip install -e .)" >&2
  exit 127
fi
exec "$milkbot" db optimize "$@"
