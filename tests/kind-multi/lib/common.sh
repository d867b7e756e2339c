# shellcheck shell=bash
# Shared settings for every tests/kind-multi command: where state and caches live, the address plan,
# logging and small helpers. Sourced, never executed.
#
# Address plan (all addresses stay on this machine; nothing is routed off it):
#   region r (0-based; named region-a, region-b, ...):
#     node links     172.31.r.0/24   node n (1-based) is a /30: host side 172.31.r.(4n+1), node side 172.31.r.(4n+2)
#     apiserver      172.31.r.254    (a /32 on the host dummy interface pgfed0; apiserver, controller-manager, scheduler bind here)
#     CoreDNS        172.31.r.253    (same dummy interface)
#     pod CIDR       10.(100+r).0.0/16, node n gets 10.(100+r).n.0/24
#     service CIDR   10.(200+r).0.0/16
#   object store     172.31.255.1:9000 (MinIO, shared by all regions, one bucket per region)
#   etcd             127.0.0.1:23790 (shared; each apiserver has its own --etcd-prefix)

KM_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KM_DIR=$(dirname "$KM_LIB")
KM_REPO=$(cd "$KM_DIR/../.." && pwd)
KM_STATE=${PGFED_KIND_STATE:-/var/lib/pgfed-kind}
PGFED_CACHE=${PGFED_CACHE:-/var/cache/pgfed}
KM_KUBECONFIG=$KM_STATE/kubeconfig
KM_S3_IP=172.31.255.1
KM_S3_PORT=9000
KM_ETCD_PORT=23790
KM_CLUSTER_DOMAIN=cluster.local
# Pod images are referred to by these names in manifests; containerd stores them fully qualified.
KM_PAUSE_IMAGE=pgfed/pause:3.10
KM_PG_IMAGE=pgfed/postgresql:15
KM_PGFED_IMAGE=pgfed/pgfed:dev
# Second tags the e2e suite upgrades to: the same operand under another name (an image change rolls
# the instances), and pgfed whose manager is another build (an operator upgrade rolls it in place).
KM_PG_NEXT_IMAGE=pgfed/postgresql:15-next
KM_PGFED_NEXT_IMAGE=pgfed/pgfed:dev-next

# shellcheck source=build.sh
source "$KM_LIB/build.sh"

log() { printf '[%s %s] %s\n' "${KM_CMD:-kind-multi}" "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
need_root() { [ "$(id -u)" = 0 ] || die "must run as root (network namespaces, cgroups, iptables)"; }

# Region and node naming. Regions are letters so contexts read region-a, region-b, ...
region_letter() { local l=abcdefgh; echo "${l:$1:1}"; }
region_name() { echo "region-$(region_letter "$1")"; }
region_index() { local l=${1#region-}; echo $(($(printf '%d' "'$l") - 97)); }
node_name() { echo "$(region_name "$1")-n$2"; }         # region-a-n1: unique across regions
node_netns() { echo "pgfed-$(region_letter "$1")$2"; }   # pgfed-a1
node_veth() { echo "pgf-$(region_letter "$1")$2"; }       # host side of the node link; pgf-a+ matches a region
node_host_ip() { echo "172.31.$1.$((4 * $2 + 1))"; }
node_ip() { echo "172.31.$1.$((4 * $2 + 2))"; }
node_pod_cidr() { echo "10.$((100 + $1)).$2.0/24"; }
node_pod_gw() { echo "10.$((100 + $1)).$2.1"; }
region_pod_cidr() { echo "10.$((100 + $1)).0.0/16"; }
region_svc_cidr() { echo "10.$((200 + $1)).0.0/16"; }
region_svc_first_ip() { echo "10.$((200 + $1)).0.1"; }
region_api_ip() { echo "172.31.$1.254"; }
region_dns_ip() { echo "172.31.$1.253"; }
region_dns_zone() { echo "$(region_name "$1").pgfed"; }   # cross-region name: <svc>.<ns>.svc.region-a.pgfed
# Parse "region-a-n2" into "0 2".
parse_node() {
  [[ $1 =~ ^region-([a-z])-n([0-9]+)$ ]] || die "not a node name: $1 (expected region-<x>-n<k>)"
  echo "$(region_index "region-${BASH_REMATCH[1]}") ${BASH_REMATCH[2]}"
}

region_dir() { echo "$KM_STATE/regions/$(region_name "$1")"; }
node_dir() { echo "$KM_STATE/nodes/$(node_name "$1" "$2")"; }

# The environment's shape, saved by up so that later commands need no flags.
load_topology() {
  [ -f "$KM_STATE/topology.env" ] || die "no environment is up (missing $KM_STATE/topology.env); run tests/kind-multi/up"
  # shellcheck disable=SC1091
  source "$KM_STATE/topology.env"
}
regions() { seq 0 $((KM_REGIONS - 1)); }
nodes() { seq 1 "$KM_NODES"; }

# Cached upstream binaries (built by build.sh on first use).
k8s_bin() { echo "$PGFED_CACHE/kubernetes-v$K8S_VERSION/$1"; }
etcd_bin() { echo "$PGFED_CACHE/etcd-v$ETCD_VERSION/$1"; }
containerd_bin() { echo "$PGFED_CACHE/containerd-v$CONTAINERD_VERSION/$1"; }
coredns_bin() { echo "$PGFED_CACHE/coredns-v$COREDNS_VERSION/coredns"; }
minio_bin() { echo "$PGFED_CACHE/minio-$MINIO_VERSION/minio"; }

# kubectl: ours when built (local driver), else the one on PATH (kind driver on a Docker host).
kubectl_bin() { if [ -x "$(k8s_bin kubectl)" ]; then k8s_bin kubectl; else command -v kubectl; fi; }
kc() { "$(kubectl_bin)" --kubeconfig "$KM_KUBECONFIG" "$@"; }
kctx() { local r=$1; shift; kc --context "$(region_name "$r")" "$@"; }

# start_daemon NAME LOG CMD...: start a long-running process detached from this shell, in its own
# session, remembering its pid under $KM_STATE/pids so down/status/faults address it by id.
start_daemon() {
  local name=$1 logf=$2; shift 2
  mkdir -p "$KM_STATE/pids" "$(dirname "$logf")"
  setsid "$@" >>"$logf" 2>&1 </dev/null &
  echo $! >"$KM_STATE/pids/$name.pid"
  # setsid made it a process-group leader (pgid = pid): stop_daemon signals the group, which also
  # ends helpers a daemon forked (the provisioner's kubectl watches).
}
daemon_pid() { cat "$KM_STATE/pids/$1.pid" 2>/dev/null; }
daemon_alive() { local p; p=$(daemon_pid "$1") && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# stop_daemon NAME: TERM, then KILL after a grace period; only the recorded pid.
stop_daemon() {
  local p i
  p=$(daemon_pid "$1") || return 0
  if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  fi
  rm -f "$KM_STATE/pids/$1.pid"
}

# stop_daemons NAME...: stop_daemon for many at once (TERM all, one shared grace period, KILL the rest).
stop_daemons() {
  local n p pids=() i alive
  for n in "$@"; do
    p=$(daemon_pid "$n") || continue
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null && { kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null; pids+=("$p"); }
  done
  for i in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || true; done
  for n in "$@"; do rm -f "$KM_STATE/pids/$n.pid"; done
}

# wait_for DESC TIMEOUT-SECONDS CMD...: poll CMD until it succeeds. The timeout only bounds a hang;
# it is not a performance assertion.
wait_for() {
  local desc=$1 timeout=$2; shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > timeout)); then
      log "gave up waiting for $desc after ${timeout}s"
      return 1
    fi
    sleep 0.5
  done
}

# Phase timing: phase_start NAME ... phase_end prints "NAME: 12.3s" and appends it to KM_TIMINGS.
phase_start() { KM_PHASE=$1; KM_PHASE_T0=$(date +%s.%N); log "== $1"; }
phase_end() {
  local dt
  dt=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $KM_PHASE_T0}")
  log "== $KM_PHASE done in ${dt}s"
  [ -n "${KM_TIMINGS:-}" ] && printf '%-52s %8ss\n' "$KM_PHASE" "$dt" >>"$KM_TIMINGS"
  return 0
}
