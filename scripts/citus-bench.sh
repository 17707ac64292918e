#!/usr/bin/env bash
# The dashboard mix (`metrics-bench load`) on one PostgreSQL and on a Citus cluster of a
# coordinator and two workers, over the same generated data, on this machine
# (docs/SCALING.md, "Measured on this machine"). Both runs use the cluster of
# scripts/citus-cluster.sh, so the servers' settings are the same:
#   1. `metrics-bench generate` into `metrics_bench` on the coordinator: plain tables, the
#      coordinator is then one ordinary PostgreSQL; `metrics-bench load`;
#   2. Citus in that database on all three nodes, `metrics-api migrate --citus` (the rows
#      move to the workers), ANALYZE; `metrics-bench load` again, with the per-project
#      reads windowed (`serve`'s choice on Citus) and then as UNION ALL branches
#      (READ_SHAPE=branches), to compare the two shapes on the cluster.
#
#   [CACHED_CONNS=N] [EXECUTOR_POOL=N] scripts/citus-bench.sh [DIR] [PROJECTS] [DURATION] [CONCURRENCY]    defaults: /tmp/metrics-citus-bench 100 10s 1,16
#
# Needs builds of both (release by default; BIN_DIR=target/debug for debug ones), Citus
# installed and root (runuser). Stops and removes the cluster at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-/tmp/metrics-citus-bench}
projects=${2:-100}
duration=${3:-10s}
concurrency=${4:-1,16}
port=9800
bin=${BIN_DIR:-target/release}
coord=postgres://postgres@127.0.0.1:$port
# 20,000 hourly trend points of 20 projects (1,000 each), as NDJSON for `metrics-api ingest`.
ndjson="$dir.ndjson"
mapfile -t hours < <(for h in $(seq 0 999); do date -u -d "2024-01-01 +$h hours" +%Y-%m-%dT%H:00:00Z; done)
for p in $(seq 1 20); do
  for h in $(seq 0 999); do
    printf '{"kind":"trend","project_id":"00000000-0000-4000-8000-%012d","metric_key":"ingested","time_grain":"hour","time_bucket":"%s","value_numeric":%d}\n' \
      "$p" "${hours[$h]}" "$h"
  done
done >"$ndjson"
timed_ingest() {
  local started
  started=$(date +%s.%N)
  "$bin/metrics-api" ingest "$ndjson" --database-url "$coord/metrics_bench" | tail -1
  echo "ingest of 20,000 rows (20 projects, batches of 1,000): $(echo "$(date +%s.%N) - $started" | bc) s"
}
sql() { psql -v ON_ERROR_STOP=1 -qAt -h 127.0.0.1 -U postgres -p "$1" -d "$2" -c "$3"; }
# At concurrency 16 a 50-project dashboard on Citus queues for the server's 16 pool
# connections longer than the default 2 s acquire timeout, which sheds it (503) and stops
# the bench: wait instead, on both sides alike (inherited by the servers the bench starts).
export DB_ACQUIRE_TIMEOUT=${DB_ACQUIRE_TIMEOUT:-60s}

rm -rf "$dir"
scripts/citus-cluster.sh start "$dir" "$port"
# KEEP_CLUSTER=1 leaves the cluster running (coordinator on port 9800) for a look by hand.
[ "${KEEP_CLUSTER:-}" = 1 ] || trap 'scripts/citus-cluster.sh stop "$dir"; rm -rf "$dir" "$ndjson"' EXIT

echo "== one PostgreSQL (the coordinator, plain tables), $projects projects"
"$bin/metrics-bench" --admin-url "$coord/postgres" --bin "$bin/metrics-api" generate --projects "$projects"
"$bin/metrics-bench" --admin-url "$coord/postgres" --bin "$bin/metrics-api" load --duration "$duration" --concurrency "$concurrency"
timed_ingest
# The ingested projects go again (their rows with them, ON DELETE CASCADE): both load runs
# pick among the same generated projects.
sql "$port" metrics_bench "DELETE FROM project WHERE id::text LIKE '00000000-0000-4000-8000-%'"

echo "== Citus: the same database distributed over two workers"
for p in $((port + 1)) $((port + 2)); do
  sql "$p" postgres "DROP DATABASE IF EXISTS metrics_bench WITH (FORCE)"
  sql "$p" postgres "CREATE DATABASE metrics_bench"
done
for p in $port $((port + 1)) $((port + 2)); do
  sql "$p" metrics_bench "CREATE EXTENSION IF NOT EXISTS citus"
done
sql "$port" metrics_bench "SELECT citus_set_coordinator_host('127.0.0.1', $port)" >/dev/null
for p in $((port + 1)) $((port + 2)); do
  sql "$port" metrics_bench "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null
done
# CACHED_CONNS=N: connections each coordinator session keeps open to every worker between
# statements (citus.max_cached_conns_per_worker, Citus's default 1), for the servers'
# sessions in this database; see docs/SCALING.md, "Operating a Citus cluster".
# EXECUTOR_POOL=N: connections one statement may open to each worker to run its shard
# tasks in parallel (citus.max_adaptive_executor_pool_size, Citus's default 16). The
# servers set it to 1 on their own sessions (CITUS_EXECUTOR_POOL); the default here gives
# the baseline's sessions the same, so both sides run alike.
EXECUTOR_POOL=${EXECUTOR_POOL-1}
if [ -n "${CACHED_CONNS:-}" ]; then
  sql "$port" metrics_bench "ALTER DATABASE metrics_bench SET citus.max_cached_conns_per_worker = $CACHED_CONNS"
  echo "citus.max_cached_conns_per_worker = $CACHED_CONNS"
fi
if [ -n "${EXECUTOR_POOL:-}" ]; then
  sql "$port" metrics_bench "ALTER DATABASE metrics_bench SET citus.max_adaptive_executor_pool_size = $EXECUTOR_POOL"
  echo "citus.max_adaptive_executor_pool_size = $EXECUTOR_POOL"
fi
started=$(date +%s.%N)
"$bin/metrics-api" migrate --citus --database-url "$coord/metrics_bench"
echo "conversion to the citus layout: $(echo "$(date +%s.%N) - $started" | bc) s"
sql "$port" metrics_bench "ANALYZE"
sql "$port" metrics_bench "SELECT nodeport, count(*) AS shards, pg_size_pretty(sum(shard_size)) FROM citus_shards WHERE citus_table_type = 'distributed' GROUP BY nodeport ORDER BY nodeport"
echo "== Citus, per-project reads windowed (what serve picks on a coordinator)"
"$bin/metrics-bench" --admin-url "$coord/postgres" --bin "$bin/metrics-api" load --duration "$duration" --concurrency "$concurrency"
echo "== Citus, per-project reads as UNION ALL branches (one PostgreSQL's shape), for comparison"
READ_SHAPE=branches "$bin/metrics-bench" --admin-url "$coord/postgres" --bin "$bin/metrics-api" load --duration "$duration" --concurrency "$concurrency"
timed_ingest
