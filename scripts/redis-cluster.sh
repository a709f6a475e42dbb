#!/usr/bin/env bash
# A local 3-node Redis Cluster (masters only, no persistence) for tests of cluster mode.
#
# Usage: scripts/redis-cluster.sh start|stop|status|url
#   start   start redis-server on REDIS_CLUSTER_PORTS and join them into one cluster
#           (idempotent: exits 0 if the cluster already answers with cluster_state:ok)
#   stop    shut the nodes down and remove the state dir (exit 0 if nothing runs)
#   status  exit 0 if every node answers and the cluster is ok
#   url     print the REDIS_URL for the app: redis://127.0.0.1:<first port>?cluster=true
#
# Environment:
#   REDIS_CLUSTER_PORTS  space-separated ports, default "7001 7002 7003"
#   REDIS_CLUSTER_DIR    state dir (nodes.conf, logs, pid files), default ${TMPDIR:-/tmp}/rehost-redis-cluster
set -Eeuo pipefail

read -r -a PORTS <<<"${REDIS_CLUSTER_PORTS:-7001 7002 7003}"
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/rehost-redis-cluster}"
HOST=127.0.0.1

log() { printf 'redis-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install redis-server)"; }

node_ok() { redis-cli -h "$HOST" -p "$1" ping 2>/dev/null | grep -q PONG; }

cluster_ok() {
  local p
  for p in "${PORTS[@]}"; do
    node_ok "$p" || return 1
    redis-cli -h "$HOST" -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
  done
}

do_start() {
  need redis-server
  need redis-cli
  ((${#PORTS[@]} >= 3)) || die "a cluster needs at least 3 masters (REDIS_CLUSTER_PORTS)"
  if cluster_ok; then
    log "already running on ports ${PORTS[*]}"
    return 0
  fi
  local p
  for p in "${PORTS[@]}"; do
    if node_ok "$p"; then
      die "port $p answers but is not part of a healthy cluster; run '$0 stop' (or free the port)"
    fi
  done
  rm -rf "$DIR"
  mkdir -p "$DIR"
  for p in "${PORTS[@]}"; do
    mkdir -p "$DIR/$p"
    redis-server --port "$p" --bind "$HOST" --dir "$DIR/$p" \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
      --save "" --appendonly no --daemonize yes \
      --pidfile "$DIR/$p/redis.pid" --logfile "$DIR/$p/redis.log" >/dev/null
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do node_ok "$p" && break; sleep 0.05; done
    node_ok "$p" || die "node on port $p did not start (see $DIR/$p/redis.log)"
  done
  local nodes=()
  for p in "${PORTS[@]}"; do nodes+=("$HOST:$p"); done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes >"$DIR/create.log" 2>&1 ||
    { cat "$DIR/create.log" >&2; die "redis-cli --cluster create failed"; }
  # Slots are assigned at once; every node must agree before clients connect.
  for _ in $(seq 1 200); do cluster_ok && break; sleep 0.05; done
  cluster_ok || die "cluster did not reach cluster_state:ok"
  log "cluster ok on ports ${PORTS[*]} (state in $DIR)"
}

do_stop() {
  local p any=0
  for p in "${PORTS[@]}"; do
    if node_ok "$p"; then
      redis-cli -h "$HOST" -p "$p" shutdown nosave >/dev/null 2>&1 || true
      any=1
    fi
  done
  for p in "${PORTS[@]}"; do
    for _ in $(seq 1 100); do node_ok "$p" || break; sleep 0.05; done
  done
  rm -rf "$DIR"
  if ((any)); then log "stopped"; else log "nothing running"; fi
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  status) cluster_ok && echo "cluster ok on ports ${PORTS[*]}" || { echo "cluster not running"; exit 1; } ;;
  url) echo "redis://$HOST:${PORTS[0]}?cluster=true" ;;
  *)
    echo "usage: $0 start|stop|status|url" >&2
    exit 2
    ;;
esac
