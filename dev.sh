#!/usr/bin/env bash
# One command for a working local stack: installs, migrates, starts an embedded S3
# server (Ceph RGW) when no S3_ENDPOINT is given, then runs api + worker + dashboard.
# Ctrl-C stops everything. The embedded store keeps objects in memory: it is wiped
# when it restarts (see README).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh

pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 2
pnpm db:generate >/dev/null
scripts/services.sh

export NODE_ENV="${NODE_ENV:-development}"
export DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/rehost}"
export API_TOKENS="${API_TOKENS:-dev-token}"   # the API refuses to start without a token (or API_ALLOW_ANONYMOUS=true)
export DEMO_PAGE="${DEMO_PAGE:-true}"          # the /demo upload page is off unless enabled
export DASHBOARD_USER="${DASHBOARD_USER:-admin}"
export DASHBOARD_PASSWORD="${DASHBOARD_PASSWORD:-admin}"

if [[ -z "${S3_ENDPOINT:-}" ]]; then
  # Stop the embedded server on exit only if this script started it (tests may share it).
  if ! scripts/s3-server.sh status >/dev/null 2>&1; then trap 'scripts/s3-server.sh stop' EXIT; fi
  scripts/s3-server.sh start
  eval "$(scripts/s3-server.sh env)"
  export S3_ENSURE_BUCKET=true
fi

scripts/db-create.sh
pnpm db:migrate 2>&1 | tail -n 1

echo
echo "  API        http://127.0.0.1:${API_PORT:-3000}   (token: $API_TOKENS; upload page: /demo, docs: /docs)"
echo "  Dashboard  http://127.0.0.1:${DASHBOARD_PORT:-3001}/admin/queues   ($DASHBOARD_USER / $DASHBOARD_PASSWORD)"
echo
node scripts/start.mjs --src
