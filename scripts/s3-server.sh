#!/usr/bin/env bash
# A real S3 server for tests and local dev: Ceph's RADOS Gateway (radosgw) on one node.
# One monitor + one in-memory OSD (memstore) + radosgw, no cephx, no mgr; start-up takes ~2 s.
# Follows the team recipe S3-SERVER.md. Runs as root or as any user (installing needs root).
#
# Usage: scripts/s3-server.sh start|stop|status|env|foreground
#   start       start in the background (idempotent: exits 0 if an RGW already answers on the port);
#               installs the Debian packages first if radosgw is missing (root only)
#   stop        stop the daemons of the state dir (exit 0 if nothing runs)
#   status      exit 0 if the RGW answers, 1 otherwise
#   env         print `export S3_...=...` lines for eval "$(scripts/s3-server.sh env)"
#   foreground  start, then stay in the foreground until SIGTERM/SIGINT (clean stop, exit 0) or
#               until a daemon dies (exit 1); for containers (docker/s3/Dockerfile)
#
# Environment (all optional; pass the same values to every subcommand of one instance):
#   S3_STATE_DIR           state dir, default <repo>/.s3 (WIPED on every start)
#   S3_PORT                S3 port, default 7480
#   S3_BIND                IPv4 address the S3 port binds to, default 127.0.0.1 (0.0.0.0 in a
#                          container); the endpoint printed by `env` is 127.0.0.1 for 0.0.0.0
#   S3_MON_PORT            Ceph monitor port (always on 127.0.0.1), default 3300; a second instance
#                          on the same machine needs its own S3_PORT, S3_MON_PORT and S3_STATE_DIR
#   S3_ACCESS_KEY_ID       default rehostdevaccesskey00 (exactly 20 chars [A-Za-z0-9])
#   S3_SECRET_ACCESS_KEY   default rehostdevsecretkey0000000000000000000000 (exactly 40 chars)
#   S3_MEMSTORE_BYTES      OSD capacity, held in RAM, default 4294967296 (4 GiB); suffixes K/M/G/T.
#                          The OSD's RSS is about twice the bytes stored (2 GB for a 1 GiB object).
#   S3_REGION              default auto (like R2). Becomes the zonegroup's api_name: the AWS SDK
#                          sends the region as LocationConstraint on CreateBucket (except for
#                          us-east-1, which sends none and always works) and RGW rejects any other
#                          value with 400 InvalidLocationConstraint.
#   S3_DEBUG_RGW           radosgw log level, default 0/5 (errors only); 1/5 adds an access-log line
#                          per request. All daemons log errors only, so logs stay small.
#
# Storage: memstore only. Objects live in the OSD's RAM and are gone after stop/start; the state
# dir is wiped on each start. Deleted/overwritten data is freed by RGW's garbage collector within
# about 10 s, and the OSD's RSS falls back with it. A persistent bluestore-on-a-file OSD was tried and works, but is not quick: first start
# ~6 s, and every restart ~17 s (radosgw start-up waits out the previous instance's watches), so
# it is not offered. Tell developers that the local S3 is emptied on restart.
#
# Clients: path-style addressing (S3_FORCE_PATH_STYLE=true), region S3_REGION (or us-east-1).
set -Eeuo pipefail

REPO_DIR="$(cd "$(dirname "$0")/.." && pwd)"
STATE_DIR="${S3_STATE_DIR:-$REPO_DIR/.s3}"
STATE_DIR="$(realpath -m -- "$STATE_DIR")" # daemons chdir to /: every path must be absolute
PORT="${S3_PORT:-7480}"
BIND="${S3_BIND:-127.0.0.1}"
MON_PORT="${S3_MON_PORT:-3300}"
DEFAULT_SECRET="rehostdevsecretkey0000000000000000000000" # 18 chars + 22 zeros = 40
ACCESS_KEY="${S3_ACCESS_KEY_ID:-rehostdevaccesskey00}"
SECRET_KEY="${S3_SECRET_ACCESS_KEY:-$DEFAULT_SECRET}"
MEMSTORE_BYTES="${S3_MEMSTORE_BYTES:-4294967296}"
DEBUG_RGW="${S3_DEBUG_RGW:-0/5}"
REGION="${S3_REGION:-auto}"
RGW_USER="rehost-dev"
# Memstore's count of used bytes can drop below zero when the store is nearly empty after heavy
# write/delete traffic (seen twice in benchmark runs); the OSD then computes a usage of
# "-2147483648%", engages its failsafe and blocks every write as if the store were full. A 64 MiB
# object written at start (held in RAM like any other) keeps the count above zero.
BALLAST_BYTES=$((64 << 20))
BALLAST_OBJECT="rehost-memstore-ballast"
MARKER=".rehost-s3-state" # only a dir holding this file (or an empty/missing dir) is ever wiped
PACKAGES=(radosgw ceph-mon ceph-osd ceph-common)

# The address clients (and our health check) use: a wildcard bind is reached via loopback.
case "$BIND" in
  0.0.0.0 | "") CLIENT_HOST=127.0.0.1 ;;
  *) CLIENT_HOST="$BIND" ;;
esac
ENDPOINT="http://$CLIENT_HOST:$PORT"
CONF="$STATE_DIR/ceph.conf"

log() { printf 's3-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

valid_port() { [[ "$1" =~ ^[1-9][0-9]{0,4}$ ]] && (($1 < 65536)); }

# Ports and address: needed by every subcommand.
validate_net() {
  valid_port "$PORT" || die "S3_PORT must be a port number, got '$PORT'"
  valid_port "$MON_PORT" || die "S3_MON_PORT must be a port number, got '$MON_PORT'"
  ((PORT != MON_PORT)) || die "S3_PORT and S3_MON_PORT must differ"
  [[ "$BIND" =~ ^[0-9]+(\.[0-9]+){3}$ ]] || die "S3_BIND must be an IPv4 address, got '$BIND'"
}

# Everything: for start and env.
validate() {
  validate_net
  ((${#DEFAULT_SECRET} == 40)) || die "internal: default secret is not 40 chars"
  [[ "$ACCESS_KEY" =~ ^[A-Za-z0-9]{20}$ ]] ||
    die "S3_ACCESS_KEY_ID must be exactly 20 characters [A-Za-z0-9] (got ${#ACCESS_KEY})"
  [[ "$SECRET_KEY" =~ ^[A-Za-z0-9/+]{40}$ ]] ||
    die "S3_SECRET_ACCESS_KEY must be exactly 40 characters [A-Za-z0-9/+] (got ${#SECRET_KEY})"
  [[ "$REGION" =~ ^[a-z0-9-]+$ ]] || die "S3_REGION must be [a-z0-9-]+, got '$REGION'"
  [[ "$DEBUG_RGW" =~ ^[0-9]+(/[0-9]+)?$ ]] || die "S3_DEBUG_RGW must look like 0/5, got '$DEBUG_RGW'"
  local n="${MEMSTORE_BYTES%[KkMmGgTt]}" mult=1
  [[ "$n" =~ ^[0-9]+$ ]] || die "S3_MEMSTORE_BYTES must be a byte count (suffix K/M/G/T allowed), got '$MEMSTORE_BYTES'"
  case "$MEMSTORE_BYTES" in
    *[Kk]) mult=$((1 << 10)) ;; *[Mm]) mult=$((1 << 20)) ;; *[Gg]) mult=$((1 << 30)) ;; *[Tt]) mult=$((1 << 40)) ;;
  esac
  MEMSTORE_BYTES=$((n * mult))
  ((MEMSTORE_BYTES >= 256 << 20)) || die "S3_MEMSTORE_BYTES must be at least 256M"
}

# 0 if an RGW (not just anything) answers on the port: an anonymous GET / lists no buckets.
rgw_answers() {
  curl -s --max-time 2 "$ENDPOINT/" 2>/dev/null | grep -q 'ListAllMyBucketsResult'
}

# 0 if something accepts TCP connections on host:port.
port_in_use() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# 0 if pid runs (not a zombie) and is one of our daemons started with our ceph.conf.
our_daemon() {
  local pid="$1" comm state cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/stat" ]] || return 1
  state="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ "$state" != Z && "$state" != X ]] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || return 1
  case "$comm" in ceph-mon | ceph-osd | radosgw) ;; *) return 1 ;; esac
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$CONF"* ]]
}

# Stops one daemon of the state dir (name: client.rgw.a, osd.0, mon.a): SIGTERM, wait up to
# $2 seconds, then SIGKILL (memstore has nothing on disk to protect). 0 if it was running.
stop_one() {
  local name="$1" timeout_s="$2" pid i
  pid="$(cat "$STATE_DIR/run/$name.pid" 2>/dev/null || true)"
  if ! our_daemon "$pid"; then
    rm -f "$STATE_DIR/run/$name.pid"
    return 1
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < timeout_s * 20; i++)); do
    our_daemon "$pid" || break
    sleep 0.05
  done
  if our_daemon "$pid"; then
    log "$name (pid $pid) did not stop within $timeout_s s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      our_daemon "$pid" || break
      sleep 0.05
    done
  fi
  rm -f "$STATE_DIR/run/$name.pid"
  return 0
}

# Stops all daemons of the state dir, gateway first: radosgw stops in ~0.2 s while the OSD and
# monitor are up, but hangs for long if they go first (in parallel, stop takes ~16 s).
# 0 if anything was running.
stop_daemons() {
  local any=1
  stop_one client.rgw.a 5 && any=0
  stop_one osd.0 10 && any=0
  stop_one mon.a 10 && any=0
  return "$any"
}

show_logs() {
  local f
  for f in "$STATE_DIR"/log/*.log "$STATE_DIR"/log/*.out; do
    [[ -s "$f" ]] || continue
    log "---- tail of $f ----"
    tail -n 25 "$f" >&2 || true
  done
}

ensure_packages() {
  local missing=0 b
  for b in radosgw ceph-mon ceph-osd ceph monmaptool radosgw-admin curl timeout flock; do
    command -v "$b" >/dev/null 2>&1 || missing=1
  done
  ((missing == 0)) && return 0
  ((EUID == 0)) || die "Ceph is not installed; run as root (or: sudo apt-get install -y --no-install-recommends ${PACKAGES[*]} curl)"
  command -v apt-get >/dev/null 2>&1 || die "Ceph is not installed and apt-get is not available"
  log "installing ${PACKAGES[*]} (about 30 s)..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y --no-install-recommends "${PACKAGES[@]}" curl >&2
  command -v radosgw >/dev/null 2>&1 || die "radosgw still missing after apt-get install"
}

# Refuse to wipe a dir that is not ours (S3_STATE_DIR=/ or $HOME by mistake).
wipe_state_dir() {
  if [[ -d "$STATE_DIR" && -n "$(ls -A "$STATE_DIR" 2>/dev/null)" && ! -f "$STATE_DIR/$MARKER" ]]; then
    die "$STATE_DIR is not empty and was not created by this script; refusing to wipe it (set S3_STATE_DIR)"
  fi
  rm -rf "$STATE_DIR"
  mkdir -p "$STATE_DIR"/{run,log,mon.a,osd.0,rgw,crash}
  : >"$STATE_DIR/$MARKER"
}

write_conf() {
  local fsid="$1" d="$STATE_DIR"
  cat >"$CONF" <<EOF
# Generated by scripts/s3-server.sh; rewritten on every start.
[global]
fsid = $fsid
mon_host = v2:127.0.0.1:$MON_PORT
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_ipv6 = false
ms_bind_msgr1 = false
run_dir = $d/run
log_file = $d/log/\$name.log
crash_dir = $d/crash
log_to_stderr = false
err_to_stderr = false
# keep the logs small: errors only (the in-memory ring of recent debug lines is dumped on a crash)
debug_mon = 0/5
debug_paxos = 0/5
debug_osd = 0/5
debug_rocksdb = 0/5
debug_memstore = 0/5
debug_auth = 0/5
debug_asok = 0/5
debug_bdev = 0/3
debug_crush = 0/1
debug_finisher = 0/1
debug_mgrc = 0/5
debug_ms = 0/0
mon_cluster_log_to_file = false
mon_cluster_log_file = $d/log/cluster.log
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_crush_chooseleaf_type = 0
# without these two, start-up takes ~12 s and first writes ~2 s
paxos_propose_interval = 0.1
paxos_min_wait = 0.01

[mon.a]
mon_data = $d/mon.a
admin_socket = $d/run/\$name.asok
pid_file = $d/run/\$name.pid

[osd.0]
osd_data = $d/osd.0
osd_objectstore = memstore
# nothing to hand over on stop: exit at once instead of telling the monitor and waiting for it
osd_fast_shutdown_notify_mon = false
# the capacity asked for, plus the ballast below (clients see S3_MEMSTORE_BYTES of room)
memstore_device_bytes = $((MEMSTORE_BYTES + BALLAST_BYTES))
admin_socket = $d/run/\$name.asok
pid_file = $d/run/\$name.pid

[client.rgw.a]
# radosgw defaults to cephx/secure and then hangs forever without these two
auth_client_required = none
ms_mon_client_mode = crc
rgw_frontends = beast endpoint=$BIND:$PORT
rgw_data = $d/rgw
admin_socket = $d/run/\$name.asok
pid_file = $d/run/\$name.pid
debug_rgw = $DEBUG_RGW
# Deleted/overwritten object data is reclaimed within ~10 s instead of 2 h: memstore is RAM, and
# the suites and benchmarks write and delete GBs back to back (with 30 s, a test run then a
# benchmark filled the store). The wait only protects reads in flight of a just-deleted object,
# which our clients never make.
rgw_gc_obj_min_wait = 5
rgw_gc_processor_period = 5
rgw_gc_processor_max_time = 5
EOF
}

# Runs a setup command, its output appended to log/setup.out. fd 9 (the lock) is closed for it:
# the daemons fork away and would otherwise hold the lock forever.
run() {
  if ! "$@" </dev/null >>"$STATE_DIR/log/setup.out" 2>&1 9<&-; then
    log "failed: $*"
    return 1
  fi
}

fail_start() {
  log "start failed: $*"
  show_logs
  stop_daemons || true
  exit 1
}

check_daemons_alive() {
  local name pid
  for name in mon.a osd.0 client.rgw.a; do
    pid="$(cat "$STATE_DIR/run/$name.pid" 2>/dev/null || true)"
    # a missing pid file right after launch is not (yet) an error for radosgw
    [[ -z "$pid" && "$name" == client.rgw.a ]] && continue
    our_daemon "$pid" || { log "$name is not running"; return 1; }
  done
}

do_start() {
  validate
  command -v curl >/dev/null 2>&1 || ensure_packages
  if rgw_answers; then
    log "already running"
    echo "S3 ready at $ENDPOINT (state in $STATE_DIR)"
    return 0
  fi
  ensure_packages

  # One start/stop at a time (lock on this script file itself: creates nothing).
  exec 9<"$0"
  flock -w 120 9 || die "another s3-server.sh start/stop holds the lock"
  if rgw_answers; then # started by a concurrent caller meanwhile
    echo "S3 ready at $ENDPOINT (state in $STATE_DIR)"
    return 0
  fi

  stop_daemons || true # leftovers of a previous, half-dead run in this state dir
  port_in_use "$CLIENT_HOST" "$PORT" && die "port $PORT is in use by something that is not an RGW (set S3_PORT)"
  port_in_use 127.0.0.1 "$MON_PORT" && die "port $MON_PORT (Ceph monitor) is in use, maybe by another Ceph; set S3_MON_PORT"

  wipe_state_dir
  # The daemons give freed memory back: glibc otherwise raises its mmap threshold to the size of
  # the first big buffer freed (up to 32 MB) and serves every later object chunk from its heap,
  # which it keeps: after 3 x ~1 GB written and deleted, the OSD stayed at 1.4 GB and radosgw at
  # 224 MB with nothing stored; with a fixed 128 KiB threshold, 114 MB and 71 MB (~5 % more
  # daemon CPU in that test, within its noise).
  export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}glibc.malloc.mmap_threshold=131072"
  local fsid osd_uuid
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  write_conf "$fsid"

  local C=(-c "$CONF")
  run monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$STATE_DIR/monmap" || fail_start monmaptool
  run ceph-mon "${C[@]}" --mkfs -i a --monmap "$STATE_DIR/monmap" || fail_start "ceph-mon --mkfs"
  run ceph-mon "${C[@]}" -i a || fail_start ceph-mon # daemonizes
  run timeout 30 ceph "${C[@]}" --connect-timeout 20 osd new "$osd_uuid" || fail_start "ceph osd new"
  run ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" || fail_start "ceph-osd --mkfs"
  run ceph-osd "${C[@]}" -i 0 || fail_start ceph-osd # daemonizes
  # Before radosgw starts (it reads the zonegroup once, at start-up): the first radosgw-admin
  # creates the default realm-less zonegroup/zone and pools (waiting for the OSD), then we name the
  # zonegroup's S3 API after the region clients use. The AWS SDK sends
  # <LocationConstraint>$region</LocationConstraint> on CreateBucket for any region but us-east-1,
  # and RGW answers 400 InvalidLocationConstraint unless it matches the zonegroup's api_name.
  run timeout 60 radosgw-admin "${C[@]}" user create --uid="$RGW_USER" --display-name="rehost dev" \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" || fail_start "radosgw-admin user create"
  run timeout 60 radosgw-admin "${C[@]}" zonegroup modify --rgw-zonegroup=default --api-name="$REGION" ||
    fail_start "radosgw-admin zonegroup modify"
  # The pools exist now; .rgw.root holds only a few small objects RGW reads by name prefix.
  run timeout 30 rados "${C[@]}" -p .rgw.root put "$BALLAST_OBJECT" <(head -c "$BALLAST_BYTES" /dev/zero) ||
    fail_start "rados put (the memstore ballast)"
  # radosgw daemonizes right away; the timeout guards a hang before that (e.g. cephx misconfigured).
  run timeout 60 radosgw "${C[@]}" -n client.rgw.a || fail_start radosgw

  local deadline=$((SECONDS + 60))
  until rgw_answers; do
    ((SECONDS < deadline)) || fail_start "RGW did not answer on $ENDPOINT within 60 s"
    check_daemons_alive || fail_start "a daemon died"
    sleep 0.05
  done
  exec 9<&- # release the lock (foreground keeps running)
  echo "S3 ready at $ENDPOINT (state in $STATE_DIR)"
}

do_stop() {
  validate_net
  if [[ -d "$STATE_DIR" ]]; then
    exec 9<"$0"
    flock -w 120 9 || die "another s3-server.sh start/stop holds the lock"
  fi
  if stop_daemons; then
    log "stopped"
  else
    log "nothing running (state in $STATE_DIR)"
  fi
  return 0
}

do_status() {
  validate_net
  if ! rgw_answers; then
    echo "S3 not running at $ENDPOINT"
    return 1
  fi
  echo "S3 running at $ENDPOINT (state in $STATE_DIR)"
  # The OSD's own count (its admin socket: works without a mgr, unlike `ceph osd df`).
  local dump rc=0
  dump="$(timeout 10 ceph -c "$CONF" daemon osd.0 perf dump 2>/dev/null)" || return 0 # not our OSD (another instance answers on the port)
  usage_from_perf_dump <<<"$dump" || rc=$?
  ((rc == 2)) && return 0 # no usage figures in the dump
  return "$rc"
}

# The usage line from an OSD's `perf dump` (JSON, one key per line) on stdin; exit 1 when the count
# is broken, 2 when the dump has no figures. Read from the available bytes, not the used ones: a
# count below zero makes `available` exceed the capacity, and the used figure (capacity minus
# available, unsigned) wraps to ~2^64, past what shell arithmetic holds.
usage_from_perf_dump() {
  local total="" avail=""
  read -r total avail < <(awk -F'[:,]' '
    /"stat_bytes":/ { gsub(/ /, "", $2); t = $2 }
    /"stat_bytes_avail":/ { gsub(/ /, "", $2); a = $2 }
    END { print t, a }') || true
  [[ "$total" =~ ^[0-9]+$ && "$avail" =~ ^[0-9]+$ ]] || return 2
  if ((avail > total)); then
    echo "store: the OSD's usage count is broken (memstore counted its used bytes below zero: $avail bytes available of $total); it blocks every write. Restart it: $0 stop && $0 start"
    return 1
  fi
  echo "store: $(((total - avail) >> 20)) MiB of $((total >> 20)) MiB used ($((BALLAST_BYTES >> 20)) MiB of it the ballast that start writes)"
}

do_env() {
  validate
  cat <<EOF
export S3_ENDPOINT='$ENDPOINT'
export S3_ACCESS_KEY_ID='$ACCESS_KEY'
export S3_SECRET_ACCESS_KEY='$SECRET_KEY'
export S3_FORCE_PATH_STYLE=true
export S3_REGION='$REGION'
EOF
}

# For containers: start, then stay until a signal (stop cleanly) or until a daemon dies (exit 1).
do_foreground() {
  validate
  rgw_answers && die "an S3 server already answers on $ENDPOINT; stop it first"
  do_start
  local tail_pid=""
  tail -n 0 -F "$STATE_DIR/log/client.rgw.a.log" 2>/dev/null 9<&- &
  tail_pid=$!
  local stopping=0
  # shellcheck disable=SC2317
  on_signal() {
    stopping=1
  }
  trap on_signal TERM INT HUP
  while ((stopping == 0)); do
    if ! check_daemons_alive 2>/dev/null || [[ ! -s "$STATE_DIR/run/client.rgw.a.pid" ]]; then
      log "a daemon died"
      show_logs
      kill "$tail_pid" 2>/dev/null || true
      stop_daemons || true
      exit 1
    fi
    sleep 1 &
    wait $! || true
  done
  kill "$tail_pid" 2>/dev/null || true
  stop_daemons || true
  log "stopped"
  exit 0
}

case "${1:-}" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) do_env ;;
  foreground) do_foreground ;;
  # Internal, for tests: the usage line `status` prints, from a `perf dump` on stdin.
  _usage-from-perf-dump) usage_from_perf_dump ;;
  *)
    echo "usage: $0 start|stop|status|env|foreground" >&2
    exit 2
    ;;
esac
