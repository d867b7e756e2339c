#!/usr/bin/env bash
# Benchmarks of the manager's object-store data path against Debian's barman-cli-cloud and
# pgBackRest: same MinIO (TLS, because pgBackRest's S3 driver needs it), same PostgreSQL, same
# machine, same run. Prints every figure and writes manager/bench/results.md. Never asserts on time.
#
#   manager/bench/run.sh                # defaults: 64 WAL segments, pgbench scale 30
#   SEGMENTS=128 SCALE=100 manager/bench/run.sh
#
# Needs: a release build of the manager (cargo build --release -p pgfed-manager), PostgreSQL 15,
# barman-cli-cloud, pgbackrest, python3-boto3, MinIO (tests/install-deps). Run as root (PostgreSQL
# and the tools run as the postgres user) or as the postgres user itself.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PG_BINDIR=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
MANAGER=${MANAGER:-${CARGO_TARGET_DIR:-$root/target}/release/manager}
MINIO=${PGFED_MINIO:-$(ls /var/cache/pgfed/minio-*/minio 2>/dev/null | tail -1)}
SEGMENTS=${SEGMENTS:-64}
SCALE=${SCALE:-30}
JOBS=${JOBS:-4}
RESULTS=${RESULTS:-$here/results.md}
LOG=${LOG:-/tmp/pgfed-bench-last.log}  # tool output, for diagnosing a failed run
: >"$LOG"

# require, work_dir, as_pg, free_port, machine_state
source "$here/lib.sh"
require "$MANAGER" "$MINIO" "$PG_BINDIR/initdb" "$(command -v barman-cloud-wal-archive || true)" "$(command -v pgbackrest || true)"
work=$(work_dir pgfed-bench)
minio_pid=
cleanup() {
  as_pg "$PG_BINDIR/pg_ctl" -D "$work/pgdata" stop -m immediate >/dev/null 2>&1 || true
  [ -n "$minio_pid" ] && kill "$minio_pid" 2>/dev/null || true
  rm -rf "$work" "$minio_data" "$minio_data-local" 2>/dev/null || true
}
trap cleanup EXIT
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{float(sys.argv[1])/(float(sys.argv[3])-float(sys.argv[2])):.2f}')" "$@"; }
result=
secs() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$@"; }
state_start=$(machine_state)
echo "machine at start: $state_start"

# --- MinIO with TLS ---------------------------------------------------------------------------
# MinIO keeps its data in memory when /dev/shm is there, so the object store's disk does not
# dominate every figure; all tools share that same server.
minio_data=${MINIO_DATA:-$([ -d /dev/shm ] && echo "/dev/shm/pgfed-bench-minio.$$" || echo "$work/minio-data")}
mkdir -p "$work/certs" "$minio_data"
# A CA and a server certificate it signs (TLS verifiers reject a CA certificate used as a leaf).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=pgfed-bench-ca \
  -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$work/certs/private.key" -out "$work/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/server.ext"
openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial -days 2 \
  -extfile "$work/server.ext" -out "$work/certs/public.crt" 2>/dev/null
chmod 644 "$work/certs/private.key"
s3port=$(free_port)
MINIO_ROOT_USER=bench MINIO_ROOT_PASSWORD=bench-secret-key MINIO_BROWSER=off \
  "$MINIO" server "$minio_data" --address "127.0.0.1:$s3port" --console-address "127.0.0.1:$(free_port)" \
  --certs-dir "$work/certs" >"$work/minio.log" 2>&1 &
minio_pid=$!
endpoint="https://127.0.0.1:$s3port"
for _ in $(seq 100); do curl -sf --cacert "$work/ca.crt" "$endpoint/minio/health/live" && break; sleep 0.3; done
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret-key AWS_DEFAULT_REGION=us-east-1 AWS_CA_BUNDLE="$work/ca.crt"
for b in wal-pgfed-1 wal-pgfed-4 wal-pgfed-16 wal-barman wal-barman-4 wal-pgfed-gz wal-pgfed-gz-1 wal-pgfed-gz-4 wal-pgfed-lz4 wal-pgfed-zst wal-barman-gz wal-barman-gz-4 base-pgfed base-barman base-pgbackrest; do
  python3 -c "import boto3,sys; boto3.client('s3', endpoint_url='$endpoint', verify='$AWS_CA_BUNDLE').create_bucket(Bucket=sys.argv[1])" "$b"
done

# --- PostgreSQL with data ------------------------------------------------------------------------
mkdir -p "$work/secrets/s3" "$work/run"
printf bench >"$work/secrets/s3/KEY"; printf bench-secret-key >"$work/secrets/s3/SECRET"; cp "$work/ca.crt" "$work/secrets/s3/CA"
[ "$(id -u)" = 0 ] && chown -R postgres: "$work"
pgport=$(free_port)
store() { # bucket, extra JSON members
  local extra=""
  [ -n "${2:-}" ] && extra=",$2"
  printf '{"destinationPath":"s3://%s/","endpointURL":"%s","endpointCA":{"name":"s3","key":"CA"},"serverName":"bench","s3Credentials":{"accessKeyId":{"name":"s3","key":"KEY"},"secretAccessKey":{"name":"s3","key":"SECRET"}}%s}' "$1" "$endpoint" "$extra"
}
config() { # file, pgdata, backup store JSON or empty, extra top-level members
  local backup="" extra=""
  [ -n "${3:-}" ] && backup="\"backup\":{\"barmanObjectStore\":$3},"
  [ -n "${4:-}" ] && extra=",$4"
  printf '{"clusterName":"bench","pgdata":"%s","port":%s,"socketDir":"%s","pgBindir":"%s","secretsDir":"%s",%s"postgresql":{"parameters":{"max_wal_size":"4GB","shared_buffers":"256MB"}}%s}\n' \
    "$2" "$pgport" "$work/run" "$PG_BINDIR" "$work/secrets" "$backup" "$extra" >"$1"
  [ "$(id -u)" = 0 ] && chown postgres: "$1"; true
}
# The instance itself does not archive (archiving is measured separately below); backup.json is the
# same instance with the object store configured, used only by `manager backup`.
config "$work/pg.json" "$work/pgdata" ""
config "$work/backup.json" "$work/pgdata" "$(store base-pgfed "\"data\":{\"jobs\":$JOBS}")"
as_pg "$MANAGER" instance init --config "$work/pg.json" 2>>"$LOG"
as_pg "$MANAGER" instance start --config "$work/pg.json" 2>>"$LOG"
as_pg "$PG_BINDIR/pgbench" -i -q -s "$SCALE" -h "$work/run" -p "$pgport" -U postgres app >>"$LOG" 2>&1
dbsize=$(as_pg "$PG_BINDIR/psql" -XAt -h "$work/run" -p "$pgport" -U postgres -d postgres -c "SELECT sum(pg_database_size(datname)) FROM pg_database")

# --- WAL archive throughput ------------------------------------------------------------------------
mkdir -p "$work/walsrc"
# Real segments PostgreSQL wrote while loading; reused under distinct names when fewer remain.
mapfile -t real < <(ls "$work/pgdata/pg_wal" | grep -E '^[0-9A-F]{24}$')
[ "${#real[@]}" -gt 0 ] || { echo "no WAL segments found" >&2; exit 1; }
for i in $(seq 0 $((SEGMENTS - 1))); do
  cp "$work/pgdata/pg_wal/${real[$((i % ${#real[@]}))]}" "$work/walsrc/$(printf '00000001000000AA%08X' "$i")"
done
segs=$(ls "$work/walsrc")
fresh_wal() { # dir → a pg_wal with every segment .ready, as PostgreSQL leaves them
  rm -rf "$1"; mkdir -p "$1/pg_wal/archive_status"; cp "$work"/walsrc/* "$1/pg_wal/"
  for s in $segs; do : >"$1/pg_wal/archive_status/$s.ready"; done
  [ "$(id -u)" = 0 ] && chown -R postgres: "$1"; true
}
# CPU spent per segment, split between the archiver processes (every process the loop waited
# for: setpriv, the archiver, Python for barman) and the S3 server. On a 2-core machine the
# server's share bounds what any client can reach, so both are printed beside the rate.
tck=$(getconf CLK_TCK)
child_ticks() { awk '{print $16+$17}' /proc/$$/stat; }
server_ticks() { awk '{print $14+$15}' "/proc/$minio_pid/stat"; }
per_seg_ms() { python3 -c "import sys; print(f'{(int(sys.argv[2])-int(sys.argv[1]))*1000/int(sys.argv[3])/int(sys.argv[4]):.0f}')" "$1" "$2" "$tck" "$SEGMENTS"; }
measure_start() { t0=$(now); c0=$(child_ticks); m0=$(server_ticks); }
measure_end() { # → result (segments/s), client_ms, server_ms
  local t1; t1=$(now)
  result=$(rate "$SEGMENTS" "$t0" "$t1"); client_ms=$(per_seg_ms "$c0" "$(child_ticks)"); server_ms=$(per_seg_ms "$m0" "$(server_ticks)")
}
wal_rows=""
wal_row() { # label → appends a results row and prints it
  wal_rows+="| $1 | $result | $client_ms | $server_ms |"$'\n'
  printf '  %-58s %7s segments/s  client %4s ms/segment  S3 server %4s ms/segment\n' "$1" "$result" "$client_ms" "$server_ms"
}
archive_pgfed() { # maxParallel compression(or "") bucket [local] → one wal-archive call per segment in order, like PostgreSQL's archiver
  local dir="$work/arch-$3" cfg="$work/arch-$3.json" wal="\"maxParallel\":$1" target
  [ -n "$2" ] && wal="$wal,\"compression\":\"$2\""
  fresh_wal "$dir"
  if [ "${4:-}" = local ]; then
    mkdir -p "$minio_data-local/$3"; [ "$(id -u)" = 0 ] && chown postgres: "$minio_data-local/$3"
    target="{\"destinationPath\":\"file://$minio_data-local/$3\",\"wal\":{$wal}}"
  else
    target=$(store "$3" "\"wal\":{$wal}")
  fi
  config "$cfg" "$dir" "$target"
  measure_start
  for s in $segs; do
    (cd "$dir" && as_pg "$MANAGER" wal-archive --config "$cfg" "pg_wal/$s" 2>>"$LOG") ||
      { echo "pgfed wal-archive failed:" >&2; tail -3 "$LOG" >&2; exit 1; }
    mv "$dir/pg_wal/archive_status/$s.ready" "$dir/pg_wal/archive_status/$s.done"
  done
  measure_end
}
barman_archive() { as_pg barman-cloud-wal-archive --cloud-provider aws-s3 --endpoint-url "$endpoint" "s3://$1/" bench "$2" ${3:-}; }
export -f barman_archive as_pg 2>/dev/null || true
archive_barman() { # parallel processes, bucket, [extra option] → segments/s
  fresh_wal "$work/arch-$2"
  measure_start
  (cd "$work/arch-$2" && printf '%s\n' $segs | xargs -P "$1" -I{} \
    env endpoint="$endpoint" bash -c "barman_archive $2 pg_wal/{} ${3:-}")
  measure_end
}
count_objects() { python3 -c "import boto3,sys; p=boto3.client('s3', endpoint_url='$endpoint').get_paginator('list_objects_v2'); print(sum(len(x.get('Contents', [])) for x in p.paginate(Bucket=sys.argv[1])))" "$1"; }
echo "WAL archive, $SEGMENTS segments of 16 MiB:"
archive_barman 1 wal-barman; wal_b1=$result; wal_row "barman-cloud-wal-archive, one process at a time"
archive_barman 4 wal-barman-4; wal_b4=$result; wal_row "barman-cloud-wal-archive, 4 processes in parallel"
archive_barman 1 wal-barman-gz -z; wal_bgz=$result; wal_row "barman-cloud-wal-archive -z (gzip), one process at a time"
archive_barman 4 wal-barman-gz-4 -z; wal_bgz4=$result; wal_row "barman-cloud-wal-archive -z (gzip), 4 processes in parallel"
archive_pgfed 1 "" wal-pgfed-1; wal_p1=$result; wal_row "pgfed, maxParallel 1"
archive_pgfed 4 "" wal-pgfed-4; wal_p4=$result; wal_row "pgfed, maxParallel 4"
archive_pgfed 16 "" wal-pgfed-16; wal_p16=$result; srv16=$server_ms; wal_row "pgfed, maxParallel 16"
archive_pgfed 1 gzip wal-pgfed-gz-1; wal_pgz1=$result; wal_row "pgfed, maxParallel 1, gzip"
archive_pgfed 4 gzip wal-pgfed-gz-4; wal_pgz4=$result; wal_row "pgfed, maxParallel 4, gzip"
archive_pgfed 16 gzip wal-pgfed-gz; wal_pgz=$result; wal_row "pgfed, maxParallel 16, gzip"
archive_pgfed 16 lz4 wal-pgfed-lz4; wal_plz4=$result; wal_row "pgfed, maxParallel 16, lz4"
archive_pgfed 16 zstd wal-pgfed-zst; wal_pzst=$result; wal_row "pgfed, maxParallel 16, zstd"
# The same archiver into a directory on tmpfs: what pgfed reaches when the S3 server is not the
# bottleneck (no S3 server CPU is spent, so that column reads 0).
archive_pgfed 16 "" wal-local local; wal_local=$result; wal_row "pgfed, maxParallel 16, local directory (no S3 server)"
for b in wal-pgfed-1 wal-pgfed-4 wal-pgfed-16 wal-barman wal-barman-4 wal-pgfed-gz wal-pgfed-gz-1 wal-pgfed-gz-4 wal-pgfed-lz4 wal-pgfed-zst wal-barman-gz wal-barman-gz-4; do
  n=$(count_objects "$b"); [ "$n" = "$SEGMENTS" ] || { echo "bucket $b holds $n objects, expected $SEGMENTS" >&2; exit 1; }
done
n=$(find "$minio_data-local/wal-local" -type f | wc -l); [ "$n" = "$SEGMENTS" ] || { echo "local archive holds $n files, expected $SEGMENTS" >&2; exit 1; }
ratio() { python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.1f}')" "$@"; }
best() { python3 -c "import sys; print(max(float(x) for x in sys.argv[1:]))" "$@"; }
wal_b_best=$(best "$wal_b1" "$wal_b4" "$wal_bgz" "$wal_bgz4")
wal_p_best=$(best "$wal_p16" "$wal_pgz" "$wal_plz4" "$wal_pzst")
# Like for like: same compression, pgfed's maxParallel N against N barman processes.
wal_summary="uncompressed, 1 vs 1: **$(ratio "$wal_p1" "$wal_b1")×**; uncompressed, 4 vs 4: **$(ratio "$wal_p4" "$wal_b4")×**;
gzip, 1 vs 1: **$(ratio "$wal_pgz1" "$wal_bgz")×**; gzip, 4 vs 4: **$(ratio "$wal_pgz4" "$wal_bgz4")×**;
best pgfed rate over best barman-cloud rate: **$(ratio "$wal_p_best" "$wal_b_best")×**."
echo "  ${wal_summary//\*\*/}" | tr '\n' ' '; echo
# What the S3 server's own CPU allows uncompressed, whatever the client: cores / server time.
ceiling=$(python3 -c "import sys; print(f'{int(sys.argv[1])*1000/max(float(sys.argv[2]),1):.0f}')" "$(nproc)" "$srv16")
echo "  uncompressed ceiling set by the S3 server's CPU ($srv16 ms/segment on $(nproc) cores): $ceiling segments/s"

# --- Base backup ----------------------------------------------------------------------------------
as_pg "$PG_BINDIR/psql" -XAtq -h "$work/run" -p "$pgport" -U postgres -d postgres -c CHECKPOINT
t0=$(now); as_pg "$MANAGER" backup --config "$work/backup.json" --backup-id 20260101T000000 >"$work/pgfed-backup.json" 2>>"$LOG"; t1=$(now)
bk_pgfed_s=$(secs "$t0" "$t1"); bk_pgfed=$(rate "$((dbsize / 1048576))" "$t0" "$t1")
t0=$(now)
as_pg barman-cloud-backup --cloud-provider aws-s3 --endpoint-url "$endpoint" -J "$JOBS" --immediate-checkpoint \
  -h "$work/run" -p "$pgport" -U postgres s3://base-barman/ bench >>"$LOG" 2>&1
t1=$(now); bk_barman_s=$(secs "$t0" "$t1"); bk_barman=$(rate "$((dbsize / 1048576))" "$t0" "$t1")
mkdir -p "$work/pgbackrest"
cat >"$work/pgbackrest.conf" <<CONF
[global]
repo1-type=s3
repo1-path=/pgbackrest
repo1-s3-bucket=base-pgbackrest
repo1-s3-endpoint=127.0.0.1
repo1-storage-port=$s3port
repo1-s3-region=us-east-1
repo1-s3-key=bench
repo1-s3-key-secret=bench-secret-key
repo1-s3-uri-style=path
# pgBackRest matches only DNS names, not IP SANs; TLS stays on, verification off.
repo1-storage-verify-tls=n
compress-type=none
process-max=$JOBS
start-fast=y
archive-check=n
log-level-console=error
log-path=$work/pgbackrest
lock-path=$work/pgbackrest
[bench]
pg1-path=$work/pgdata
pg1-port=$pgport
pg1-socket-path=$work/run
CONF
[ "$(id -u)" = 0 ] && chown -R postgres: "$work/pgbackrest" "$work/pgbackrest.conf"
as_pg pgbackrest --config="$work/pgbackrest.conf" --stanza=bench stanza-create >>"$LOG" 2>&1
t0=$(now); as_pg pgbackrest --config="$work/pgbackrest.conf" --stanza=bench --type=full backup >>"$LOG" 2>&1; t1=$(now)
bk_pgbr_s=$(secs "$t0" "$t1"); bk_pgbr=$(rate "$((dbsize / 1048576))" "$t0" "$t1")
echo "Base backup of $((dbsize / 1048576)) MiB, no compression, $JOBS streams/processes:"
echo "  pgfed                 $bk_pgfed MB/s ($bk_pgfed_s s)"
echo "  barman-cloud-backup   $bk_barman MB/s ($bk_barman_s s)"
echo "  pgbackrest            $bk_pgbr MB/s ($bk_pgbr_s s)"

# --- Restore --------------------------------------------------------------------------------------
config "$work/restore.json" "$work/restore-pgfed" "" "\"externalClusters\":[{\"name\":\"bench\",\"barmanObjectStore\":$(store base-pgfed "\"data\":{\"jobs\":$JOBS}")}],\"replica\":{\"enabled\":true,\"source\":\"bench\"},\"bootstrap\":{\"recovery\":{\"source\":\"bench\"}}"
t0=$(now); as_pg "$MANAGER" instance restore --config "$work/restore.json" >>"$LOG" 2>&1; t1=$(now); rs_pgfed=$(secs "$t0" "$t1")
bid=$(python3 -c "import boto3; r=boto3.client('s3', endpoint_url='$endpoint', verify='$AWS_CA_BUNDLE').list_objects_v2(Bucket='base-barman', Prefix='bench/base/', Delimiter='/'); print(r['CommonPrefixes'][0]['Prefix'].split('/')[2])")
t0=$(now); as_pg barman-cloud-restore --cloud-provider aws-s3 --endpoint-url "$endpoint" s3://base-barman/ bench "$bid" "$work/restore-barman" >>"$LOG" 2>&1; t1=$(now); rs_barman=$(secs "$t0" "$t1")
t0=$(now); as_pg pgbackrest --config="$work/pgbackrest.conf" --stanza=bench --pg1-path="$work/restore-pgbr" restore >>"$LOG" 2>&1; t1=$(now); rs_pgbr=$(secs "$t0" "$t1")
restored() { du -sm "$1" | cut -f1; }
rs_pgfed_mb=$(restored "$work/restore-pgfed"); rs_barman_mb=$(restored "$work/restore-barman"); rs_pgbr_mb=$(restored "$work/restore-pgbr")
echo "Restore of that backup (download + unpack):"
echo "  pgfed                 $rs_pgfed s ($rs_pgfed_mb MiB restored)"
echo "  barman-cloud-restore  $rs_barman s ($rs_barman_mb MiB restored)"
echo "  pgbackrest restore    $rs_pgbr s ($rs_pgbr_mb MiB restored)"

# --- Idle RSS of the manager running as PID 1 would -------------------------------------------------
as_pg "$MANAGER" instance stop --config "$work/pg.json" --mode fast 2>/dev/null
config "$work/run.json" "$work/pgdata" "" "\"probePort\":$(free_port),\"statusPort\":$(free_port),\"metricsPort\":$(free_port)"
as_pg "$MANAGER" instance run --config "$work/run.json" >/dev/null 2>&1 &
run_pid=$!
sleep 15
mgr_pid=$(pgrep -P "$run_pid" -x manager || echo "$run_pid")
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$mgr_pid/status")
[ "$(cat "/proc/$mgr_pid/comm")" = manager ] || { echo "pid $mgr_pid is not the manager" >&2; exit 1; }
rss=$(python3 -c "print(f'{$rss_kib/1024:.1f}')")
kill -TERM "$mgr_pid"; wait "$run_pid" || true
echo "Manager idle RSS (instance run, postgres up, 15 s idle): $rss MiB"
state_end=$(machine_state)
echo "machine at end: $state_end"

cat >"$RESULTS" <<MD
# Manager benchmarks

Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs));
MinIO over TLS on localhost (data on tmpfs when available); PostgreSQL $(as_pg "$PG_BINDIR/postgres" --version | awk '{print $3}'),
barman-cli-cloud $(dpkg-query -W -f='${Version}' barman-cli-cloud), pgBackRest $(pgbackrest version | awk '{print $2}').
Machine before the run: $state_start.
Machine after the run: $state_end.
Command: \`manager/bench/run.sh\` (SEGMENTS=$SEGMENTS SCALE=$SCALE JOBS=$JOBS). Figures vary run to run on a busy machine.

## WAL archive throughput ($SEGMENTS × 16 MiB real segments from a pgbench load, one archive_command call per segment in order)
| archiver | segments/s | client CPU ms/segment | S3 server CPU ms/segment |
|---|---|---|---|
${wal_rows}
Ratios, pgfed over barman-cloud-wal-archive at the same compression, maxParallel N against N
processes: $wal_summary
Uncompressed, the S3 server alone spends $srv16 ms of CPU per segment, so on $(nproc) cores no client
can archive more than about $ceiling segments/s ($(ratio "$ceiling" "$wal_b4")× barman-cloud's 4-process rate):
the uncompressed ratios are bounded by the server sharing this machine, not by the archiver.
barman-cli-cloud 3.4 has no lz4 or zstd. CPU is per segment, summed over user and system time.

## Base backup ($((dbsize / 1048576)) MiB, pgbench scale $SCALE, no compression, $JOBS streams/processes)
| tool | MB/s | seconds |
|---|---|---|
| pgfed backup | $bk_pgfed | $bk_pgfed_s |
| barman-cloud-backup -J $JOBS | $bk_barman | $bk_barman_s |
| pgbackrest process-max=$JOBS | $bk_pgbr | $bk_pgbr_s |

## Restore of that backup (download and unpack into an empty directory)
| tool | seconds | MiB on disk after |
|---|---|---|
| pgfed instance restore | $rs_pgfed | $rs_pgfed_mb |
| barman-cloud-restore | $rs_barman | $rs_barman_mb |
| pgbackrest restore | $rs_pgbr | $rs_pgbr_mb |

## Footprint
Manager idle RSS (instance run supervising postgres, probes/status/metrics listening): **$rss MiB**.
MD
echo "results written to $RESULTS"
