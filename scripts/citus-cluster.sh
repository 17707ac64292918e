#!/usr/bin/env bash
# A throwaway Citus cluster on this machine: a coordinator and two workers, each its own
# PostgreSQL 15 data directory under DIR, run as the `postgres` OS user on free ports
# (the main cluster on 5432 is left alone). For the benchmark in docs/SCALING.md and for
# trying the citus layout by hand; the test suite builds its own (tests/it/common/citus.rs).
#
#   scripts/citus-cluster.sh start DIR [PORT]   coordinator on PORT (default 9700), workers on PORT+1, PORT+2
#   scripts/citus-cluster.sh stop DIR
#
# Then: metrics-api migrate --citus --database-url postgres://postgres@127.0.0.1:PORT/postgres
# Needs Citus installed (../shared/vendor/install-citus.sh) and root (runuser).
set -euo pipefail
BIN=/usr/lib/postgresql/15/bin
cmd=${1:?usage: citus-cluster.sh start|stop DIR [PORT]}
dir=${2:?usage: citus-cluster.sh start|stop DIR [PORT]}
port=${3:-9700}
pg() { runuser -u postgres -- "$BIN/$1" "${@:2}"; }
nodes=(coordinator worker1 worker2)

case "$cmd" in
start)
  [ -f "$(pg_config --pkglibdir 2>/dev/null || echo /usr/lib/postgresql/15/lib)/citus.so" ] ||
    { echo "citus-cluster: Citus is not installed (../shared/vendor/install-citus.sh)" >&2; exit 1; }
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  for i in 0 1 2; do
    n=${nodes[$i]}
    p=$((port + i))
    if [ ! -d "$dir/$n" ]; then
      pg initdb -D "$dir/$n" -A trust -U postgres --no-sync >/dev/null
      echo "shared_preload_libraries = 'citus'" >>"$dir/$n/postgresql.conf"
    fi
    pg pg_ctl -D "$dir/$n" -l "$dir/$n.log" -w \
      -o "-p $p -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
    psql -h 127.0.0.1 -p "$p" -U postgres -qAtc "CREATE EXTENSION IF NOT EXISTS citus" postgres
  done
  psql -h 127.0.0.1 -p "$port" -U postgres -qAt postgres >/dev/null <<SQL
SELECT citus_set_coordinator_host('127.0.0.1', $port);
SELECT citus_add_node('127.0.0.1', $((port + 1))) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = $((port + 1)));
SELECT citus_add_node('127.0.0.1', $((port + 2))) WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodeport = $((port + 2)));
SQL
  echo "citus-cluster: coordinator postgres://postgres@127.0.0.1:$port/postgres, workers on $((port + 1)) and $((port + 2))"
  ;;
stop)
  for n in "${nodes[@]}"; do
    [ -d "$dir/$n" ] && pg pg_ctl -D "$dir/$n" -m fast -w stop >/dev/null || true
  done
  ;;
*)
  echo "usage: citus-cluster.sh start|stop DIR [PORT]" >&2
  exit 2
  ;;
esac
