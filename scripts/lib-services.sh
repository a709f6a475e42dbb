# Sourced by test.sh and scripts/with-services.sh (bash). Starts what the suites need —
# PostgreSQL and Redis on 127.0.0.1 where installed but stopped, and the local S3 server
# (scripts/s3-server.sh, on S3_PORT) unless S3_ENDPOINT/TEST_S3_ENDPOINT names another store — and remembers
# which of them it started, so that `services_stop_started` (run it from an EXIT trap) stops
# exactly those and leaves running whatever was running before, e.g. another checkout's RGW.
#
#   source scripts/lib-services.sh
#   trap services_stop_started EXIT
#   services_start

SERVICES_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVICES_STARTED=()

services_pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
services_redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
services_pg_cluster() { ls /etc/postgresql 2>/dev/null | head -n1; }

services_start() {
  local i
  if ! services_pg_up; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(services_pg_cluster)" main start
    SERVICES_STARTED+=(postgres)
    for ((i = 0; i < 50; i++)); do services_pg_up && break; sleep 0.2; done
    services_pg_up || { echo "services: PostgreSQL did not come up within 10 s" >&2; return 1; }
  fi
  if ! services_redis_up; then
    echo "services: starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    SERVICES_STARTED+=(redis)
    for ((i = 0; i < 50; i++)); do services_redis_up && break; sleep 0.2; done
    services_redis_up || { echo "services: Redis did not come up within 10 s" >&2; return 1; }
  fi
  # The local S3 server, unless the suites are pointed at another store.
  local local_s3="http://127.0.0.1:${S3_PORT:-7480}" want_s3="${TEST_S3_ENDPOINT:-${S3_ENDPOINT:-}}"
  if [[ -z "$want_s3" || "${want_s3%/}" == "$local_s3" ]] && ! "$SERVICES_REPO/scripts/s3-server.sh" status >/dev/null 2>&1; then
    SERVICES_STARTED+=(s3) # before start: a half-started server is stopped too
    "$SERVICES_REPO/scripts/s3-server.sh" start
  fi
  echo "services: PostgreSQL, Redis and S3 are up${SERVICES_STARTED[*]:+ (started here: ${SERVICES_STARTED[*]})}"
}

# Stops what services_start started, last first; each stop is bounded.
services_stop_started() {
  local i s
  for ((i = ${#SERVICES_STARTED[@]} - 1; i >= 0; i--)); do
    s="${SERVICES_STARTED[i]}"
    case "$s" in
      s3) "$SERVICES_REPO/scripts/s3-server.sh" stop || true ;;
      redis) timeout 10 redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true ;;
      postgres) timeout 60 pg_ctlcluster --skip-systemctl-redirect "$(services_pg_cluster)" main stop || true ;;
    esac
    echo "services: stopped $s (started here)"
  done
  SERVICES_STARTED=()
}
