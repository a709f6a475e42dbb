#!/usr/bin/env bash
# Creates the database named in DATABASE_URL if it does not exist.
set -euo pipefail
url="${DATABASE_URL:?DATABASE_URL is required}"
db="${url##*/}"; db="${db%%\?*}"
admin="${url%/*}/postgres"
if ! psql "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql "$admin" -qc "CREATE DATABASE \"$db\"" >/dev/null
  echo "db-create: created $db"
fi
