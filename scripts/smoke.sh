#!/usr/bin/env bash
# Short runs of the fault-injection suite and the benchmarks (the full ones are
# `pnpm test:faults` and `pnpm bench`): they must run and write well-formed results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
echo "-- pnpm test:faults --smoke"
pnpm test:faults --smoke || status=1
echo "-- pnpm bench --smoke"
pnpm bench --smoke || status=1
exit $status
