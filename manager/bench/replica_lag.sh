#!/usr/bin/env bash
# Replica-cluster lag through the object store, with the in-progress WAL upload off
# (partialWalUploadSeconds unset: WAL reaches the bucket when a segment fills or archive_timeout,
# 5 min by default, closes it) and on (every 1 s, every 5 s). A primary under `instance run`
# archives to one MinIO bucket; a replica cluster restored from it replays that bucket only (no
# streaming). pgbench writes at a steady rate, each transaction also inserting its
# clock_timestamp() into `beat`; twice a second the replica's lag is sampled as
# now() - max(beat.ts) on the replica (same machine, same clock). Prints the figures and appends
# them to manager/bench/results.md. Never asserts on time.
#
#   manager/bench/replica_lag.sh                          # 60 s per mode, 50 transactions/s
#   DURATION=120 OFF_DURATION=360 RATE=100 manager/bench/replica_lag.sh
#
# With upload off the lag grows until a segment fills or archive_timeout passes, so a window
# shorter than both (OFF_DURATION) shows a lower bound only; the script prints how long this
# write rate takes to fill a segment.
#
# Needs: a build of the manager (release by default: cargo build --release -p pgfed-manager),
# PostgreSQL 15 (pgbench), python3-boto3, MinIO (tests/install-deps). Run as root (PostgreSQL runs
# as the postgres user) or as the postgres user itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# require, work_dir, as_pg, free_port, machine_state
source "$here/lib.sh"
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
MANAGER=${MANAGER:-${CARGO_TARGET_DIR:-$root/target}/release/manager}
MINIO=${PGFED_MINIO:-$(ls /var/cache/pgfed/minio-*/minio 2>/dev/null | tail -1)}
DURATION=${DURATION:-60}
OFF_DURATION=${OFF_DURATION:-$DURATION}
RATE=${RATE:-50}
SCALE=${SCALE:-1}
INTERVALS=${INTERVALS:-"1 5"}
COMPRESSION=${COMPRESSION:-zstd}
RESULTS=${RESULTS:-$here/results.md}
LOG=${LOG:-/tmp/pgfed-lag-last.log}  # tool output, for diagnosing a failed run
: >"$LOG"

require "$MANAGER" "$MINIO" "$PG_BINDIR/initdb" "$PG_BINDIR/pgbench"
work=$(work_dir pgfed-lag)
minio_pid= run_pid= mgr_pid=
minio_data=$([ -d /dev/shm ] && echo "/dev/shm/pgfed-lag-minio.$$" || echo "$work/minio-data")
# SIGTERM to the manager itself (as_pg runs it under a subshell, whose PID $! is), then waits
# until it has stopped postgres and exited.
stop_manager() {
  local pid=${mgr_pid:-$([ -n "$run_pid" ] && pgrep -P "$run_pid" -x manager || true)}
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.3; done
}
cleanup() {
  stop_manager
  for d in primary replica; do
    as_pg "$PG_BINDIR/pg_ctl" -D "$work/$d/pgdata" stop -m immediate >/dev/null 2>&1 || true
  done
  [ -n "$minio_pid" ] && kill "$minio_pid" 2>/dev/null || true
  rm -rf "$work" "$minio_data" 2>/dev/null || true
}
trap cleanup EXIT
state_start=$(machine_state)
echo "machine at start: $state_start"

# --- MinIO (plain HTTP on localhost; its data on tmpfs when there is one) -------------------------
mkdir -p "$minio_data"
s3port=$(free_port)
MINIO_ROOT_USER=bench MINIO_ROOT_PASSWORD=bench-secret-key MINIO_BROWSER=off \
  "$MINIO" server "$minio_data" --address "127.0.0.1:$s3port" --console-address "127.0.0.1:$(free_port)" \
  >"$work/minio.log" 2>&1 &
minio_pid=$!
endpoint="http://127.0.0.1:$s3port"
for _ in $(seq 100); do curl -sf "$endpoint/minio/health/live" && break; sleep 0.3; done
python3 -c "import boto3; boto3.client('s3', endpoint_url='$endpoint', aws_access_key_id='bench', aws_secret_access_key='bench-secret-key', region_name='us-east-1').create_bucket(Bucket='lag')"

# --- Two instances: the primary cluster and a replica cluster of its bucket -----------------------
mkdir -p "$work/secrets/s3" "$work/primary/run" "$work/replica/run"
printf bench >"$work/secrets/s3/KEY"; printf bench-secret-key >"$work/secrets/s3/SECRET"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
store="{\"destinationPath\":\"s3://lag/\",\"endpointURL\":\"$endpoint\",\"s3Credentials\":{\"accessKeyId\":{\"name\":\"s3\",\"key\":\"KEY\"},\"secretAccessKey\":{\"name\":\"s3\",\"key\":\"SECRET\"}},\"wal\":{\"compression\":\"$COMPRESSION\",\"maxParallel\":4}}"
port_a=$(free_port) port_b=$(free_port)
ports="\"probePort\":$(free_port),\"statusPort\":$(free_port),\"metricsPort\":$(free_port)"
common() { # dir, port
  printf '"pgdata":"%s","port":%s,"socketDir":"%s","pgBindir":"%s","secretsDir":"%s","postgresql":{"parameters":{"shared_buffers":"128MB","max_wal_size":"1GB"}}' \
    "$work/$1/pgdata" "$2" "$work/$1/run" "$PG_BINDIR" "$work/secrets"
}
primary_config() { # partialWalUploadSeconds (0: off)
  printf '{"clusterName":"lag-a","instanceName":"lag-a","targetPrimary":"lag-a",%s,%s,"backup":{"barmanObjectStore":%s},"partialWalUploadSeconds":%s}\n' \
    "$(common primary "$port_a")" "$ports" "$store" "$1" >"$work/primary.json.tmp"
  [ "$(id -u)" = 0 ] && chown postgres: "$work/primary.json.tmp"
  mv "$work/primary.json.tmp" "$work/primary.json"
}
primary_config 0
printf '{"clusterName":"lag-b",%s,"externalClusters":[{"name":"lag-a","barmanObjectStore":%s}],"replica":{"primary":"lag-a","source":"lag-a"},"bootstrap":{"recovery":{"source":"lag-a"}}}\n' \
  "$(common replica "$port_b")" "$store" >"$work/replica.json"
[ "$(id -u)" = 0 ] && chown postgres: "$work/replica.json"
psql_a() { as_pg "$PG_BINDIR/psql" -XAtq -h "$work/primary/run" -p "$port_a" -U postgres -d app -c "$1"; }
psql_b() { as_pg "$PG_BINDIR/psql" -XAtq -h "$work/replica/run" -p "$port_b" -U postgres -d app -c "$1"; }

as_pg "$MANAGER" instance init --config "$work/primary.json" 2>>"$LOG"
as_pg "$MANAGER" instance start --config "$work/primary.json" 2>>"$LOG"
as_pg "$PG_BINDIR/pgbench" -i -q -s "$SCALE" -h "$work/primary/run" -p "$port_a" -U postgres app >>"$LOG" 2>&1
psql_a "CREATE TABLE beat(ts timestamptz NOT NULL); INSERT INTO beat VALUES (clock_timestamp())"
as_pg "$MANAGER" backup --config "$work/primary.json" >>"$LOG" 2>&1
as_pg "$MANAGER" instance restore --config "$work/replica.json" >>"$LOG" 2>&1
as_pg "$MANAGER" instance start --config "$work/replica.json" 2>>"$LOG"
# The primary under `instance run`, where the uploader runs.
as_pg "$MANAGER" instance stop --config "$work/primary.json" --mode fast 2>>"$LOG"
as_pg "$MANAGER" instance run --config "$work/primary.json" >>"$LOG" 2>&1 &
run_pid=$!
for _ in $(seq 200); do [ "$(psql_a 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break; sleep 0.3; done
mgr_pid=$(pgrep -P "$run_pid" -x manager || echo "$run_pid")
[ "$(cat "/proc/$mgr_pid/comm")" = manager ] || { echo "pid $mgr_pid is not the manager" >&2; exit 1; }

cat >"$work/load.sql" <<'SQL'
\set aid random(1, 100000 * :scale)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
INSERT INTO beat VALUES (clock_timestamp());
END;
SQL
[ "$(id -u)" = 0 ] && chown postgres: "$work/load.sql"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
rows=""
measure() { # label, partialWalUploadSeconds, seconds
  local label=$1 every=$2 seconds=$3 samples="$work/samples-$2"
  primary_config "$every"
  sleep 3  # the manager rereads its configuration every second
  # Each mode starts with the replica caught up: close the segment and wait for it to arrive.
  # Two statements, two transactions: in one, the switch would come before the row's commit.
  psql_a "INSERT INTO beat VALUES (clock_timestamp())"
  psql_a "SELECT pg_switch_wal()" >/dev/null
  local want; want=$(psql_a "SELECT max(ts) FROM beat")
  for _ in $(seq 600); do [ "$(psql_b "SELECT max(ts) FROM beat" 2>/dev/null)" = "$want" ] && break; sleep 0.5; done
  [ "$(psql_b "SELECT max(ts) FROM beat")" = "$want" ] || { echo "the replica did not catch up before $label" >&2; exit 1; }
  # Every window starts just after a checkpoint, so each carries the same burst of full-page
  # writes and the WAL rates stay comparable.
  psql_a "CHECKPOINT"
  local lsn0 arch0 m0 s0
  lsn0=$(psql_a "SELECT pg_current_wal_lsn()"); arch0=$(psql_a "SELECT archived_count FROM pg_stat_archiver")
  m0=$(ticks "$mgr_pid"); s0=$(ticks "$minio_pid")
  as_pg "$PG_BINDIR/pgbench" -n -f "$work/load.sql" -R "$RATE" -T "$seconds" -c 2 -j 1 \
    -h "$work/primary/run" -p "$port_a" -U postgres app >>"$LOG" 2>&1 &
  local load=$!
  : >"$samples"
  while kill -0 "$load" 2>/dev/null; do
    psql_b "SELECT extract(epoch FROM clock_timestamp() - max(ts)) FROM beat" >>"$samples" 2>/dev/null || true
    sleep 0.5
  done
  wait "$load"
  local wal arch m s
  wal=$(psql_a "SELECT pg_current_wal_lsn() - '$lsn0'::pg_lsn"); arch=$(( $(psql_a "SELECT archived_count FROM pg_stat_archiver") - arch0 ))
  m=$(( $(ticks "$mgr_pid") - m0 )); s=$(( $(ticks "$minio_pid") - s0 ))
  local row
  row=$(python3 - "$samples" "$label" "$seconds" "$wal" "$arch" "$m" "$s" "$tck" <<'PY'
import statistics, sys
path, label, seconds, wal, archived, mgr, s3, tck = sys.argv[1:]
lags = sorted(float(l) for l in open(path) if l.strip())
seconds, wal, tck = float(seconds), float(wal), int(tck)
def pct(p):
    return lags[min(len(lags) - 1, int(p * len(lags)))]
rate = wal / seconds
fill = (16 << 20) / rate if rate else float("inf")
print(f"| {label} | {len(lags)} | {statistics.median(lags):.1f} | {pct(0.95):.1f} | {lags[-1]:.1f} "
      f"| {rate / 1024:.0f} | {fill:.0f} | {archived} | {int(mgr) * 100 / tck / seconds:.1f} | {int(s3) * 100 / tck / seconds:.1f} |")
PY
)
  rows+="$row"$'\n'
  echo "  $row"
}

echo "Replica-cluster lag at $RATE transactions/s (pgbench scale $SCALE, $COMPRESSION):"
echo "  | mode | samples | lag p50 s | lag p95 s | lag max s | WAL KiB/s | s to fill a segment | segments archived | manager CPU % | MinIO CPU % |"
measure "off (archive_timeout 5min), ${OFF_DURATION} s" 0 "$OFF_DURATION"
for every in $INTERVALS; do
  measure "partialWalUploadSeconds $every, ${DURATION} s" "$every" "$DURATION"
done
state_end=$(machine_state)
echo "machine at end: $state_end"

cat >>"$RESULTS" <<MD

## Replica-cluster lag through the object store (\`manager/bench/replica_lag.sh\`)

Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores; MinIO over plain HTTP on localhost; PostgreSQL
$(as_pg "$PG_BINDIR/postgres" --version | awk '{print $3}'); a primary under \`instance run\` archiving to MinIO ($COMPRESSION,
maxParallel 4), a replica cluster replaying that bucket only. Load: pgbench at $RATE transactions/s
(scale $SCALE; each transaction updates an account and inserts its commit time into \`beat\`); lag
sampled twice a second on the replica as now() - max(beat.ts).
Machine before the run: $state_start.
Machine after the run: $state_end.
Command: \`manager/bench/replica_lag.sh\` (DURATION=$DURATION OFF_DURATION=$OFF_DURATION RATE=$RATE SCALE=$SCALE INTERVALS="$INTERVALS").
Each window starts right after a checkpoint. With the upload off the lag grows until a segment
fills or archive_timeout closes it, so a window shorter than both gives a lower bound. Each upload
carries the whole segment written so far, so its cost grows as the segment fills. Manager CPU is the \`instance run\` process alone (the
uploader and the supervisor; archive_command runs in its own processes).

| mode | samples | lag p50 s | lag p95 s | lag max s | WAL KiB/s | s to fill a segment | segments archived | manager CPU % | MinIO CPU % |
|---|---|---|---|---|---|---|---|---|---|
${rows}
MD
echo "results appended to $RESULTS"
