#!/usr/bin/env bash
# Installs everything, starts what the tests need, runs every suite.
# PostgreSQL and Redis are expected on 127.0.0.1 (started here if installed but stopped);
# the S3 server (Ceph RGW), Chromium and all npm packages are installed by this script.
# Servers it starts are stopped when it exits.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

echo "== install"
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3
pnpm db:generate >/dev/null

echo "== services"
# Whatever this run starts (PostgreSQL, Redis, the S3 server) it stops when it ends, however it
# ends; what was already running stays running.
source scripts/lib-services.sh
trap services_stop_started EXIT
services_start
scripts/ensure-chromium.sh
# exiftool writes and reads the metadata fixtures (Debian libimage-exiftool-perl).
command -v exiftool >/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends libimage-exiftool-perl >/dev/null; }

export TEST_DATABASE_URL="${TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/rehost_test}"
echo "== migrations (prisma migrate deploy, the production path)"
DATABASE_URL="${TEST_DATABASE_URL}" scripts/db-create.sh
DATABASE_URL="${TEST_DATABASE_URL}" pnpm db:migrate 2>&1 | tail -n 1

rm -rf test-results && mkdir -p test-results
echo "== docker-compose.yml"
command -v docker-compose >/dev/null 2>&1 || { apt-get install -y -q --no-install-recommends docker-compose >/dev/null 2>&1 || echo "(docker-compose not installable here; compose check skipped)"; }
scripts/check-compose.sh

echo "== lint + typecheck"
pnpm turbo run lint typecheck --concurrency=2 --output-logs=errors-only

echo "== build (compiled JavaScript: what pnpm start and the images run)"
pnpm turbo run build --concurrency=2 --output-logs=errors-only

echo "== tests"
status=0
pnpm turbo run test --concurrency=2 --output-logs=full --log-order=grouped || status=$?

if [[ -f scripts/smoke.sh ]]; then
  echo "== smoke: faults and benchmarks"
  scripts/smoke.sh || status=$?
fi

node scripts/test-summary.mjs test-results || status=$?
echo "test.sh took ${SECONDS} s"
exit $status
