#!/usr/bin/env bash
# The project's own PostgreSQL cluster under .data/, on a loopback port of its own.
#   scripts/pg-cluster.sh start   create (first time) and start; safe when already running
#   scripts/pg-cluster.sh stop    stop it
#   scripts/pg-cluster.sh status  say whether it runs
# The port comes from DASAN_PG_PORT (default 55432). PostgreSQL refuses to run as root, so
# as root the server runs as the `postgres` system user on folders that user owns.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
data="$root/.data/pg"
run="$root/.data/pg-run"          # socket folder and server log
port="${DASAN_PG_PORT:-55432}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bin" ] || { echo "PostgreSQL server binaries not found; run scripts/system-deps.sh" >&2; exit 1; }

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() { as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; }

start() {
  mkdir -p "$root/.data"
  chmod 755 "$root/.data"
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data" "$run"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$data" "$run"
    chmod 700 "$data"
    echo "creating the database cluster in $data"
    as_owner "$bin/initdb" -D "$data" -U dasan --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    # Loopback only, trust auth: this cluster is a local development and test database.
    cat >> "$data/postgresql.conf" <<CONF
# --- Dasan Field local cluster ---
listen_addresses = '127.0.0.1'
max_connections = 200
shared_buffers = 256MB
timezone = 'UTC'
log_min_messages = warning
CONF
  fi
  mkdir -p "$run"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$run"
  if running; then
    echo "database cluster already running on 127.0.0.1:$port"
    return 0
  fi
  as_owner "$bin/pg_ctl" -D "$data" -l "$run/postgres.log" \
    -o "-p $port -k $run -c wal_compression=lz4" -w -t 60 start >/dev/null
  echo "database cluster started on 127.0.0.1:$port"
}

stop() {
  if running; then as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null; echo "stopped"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$port"; else echo "not running"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
