#!/usr/bin/env bash
# Runs a command with the services the suites need up (PostgreSQL, Redis, the local S3 server;
# see scripts/lib-services.sh), then stops whichever of them it had to start. `pnpm bench` and
# `pnpm test:faults` run through it, so they work from a fresh shell and leave the machine as
# they found it.
#
#   scripts/with-services.sh node --import tsx bench/run.ts --smoke
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
source scripts/lib-services.sh
(($# > 0)) || { echo "usage: $0 command [args...]" >&2; exit 2; }

# A fresh clone has no generated Prisma client until something generates it (./test.sh does).
[[ -f packages/db/src/generated/prisma/client.ts ]] || pnpm db:generate >/dev/null
trap services_stop_started EXIT
# Ctrl-C / SIGTERM reach the command too (same process group); the EXIT trap then stops what we started.
trap 'exit 130' INT
trap 'exit 143' TERM
services_start >&2
status=0
"$@" || status=$?
exit "$status"
