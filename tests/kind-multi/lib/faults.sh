# shellcheck shell=bash
# Fault injection on the local driver. Every fault is something that happens to real clusters:
# a process dies, a pod is deleted, a machine powers off and back on, a cable or a whole region's
# link is cut, the object store goes away. Nothing here waits for the cluster's reaction; callers
# (e2e tests, benchmarks) observe and time it.

# pod_container R NS/POD [CONTAINER]: "<node> <containerd container id>"
pod_container() {
  local r=$1 ns=${2%%/*} pod=${2#*/} c=${3:-} node id
  node=$(kctx "$r" -n "$ns" get pod "$pod" -o jsonpath='{.spec.nodeName}') || die "no pod $2 in $(region_name "$r")"
  if [ -n "$c" ]; then
    id=$(kctx "$r" -n "$ns" get pod "$pod" -o jsonpath="{.status.containerStatuses[?(@.name==\"$c\")].containerID}")
  else
    id=$(kctx "$r" -n "$ns" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}')
  fi
  [ -n "$id" ] || die "pod $2 has no running container ${c:-}"
  echo "$node ${id#containerd://}"
}

# fault_store_pod R NS/POD cut|heal: the pod (every container: they share its network namespace)
# loses, or gets back, its route to the object store; the rest of its network is untouched. The
# rule lives in the pod's own network namespace, so it touches no other pod on the node and goes
# away with the pod. Dropped, not refused: connections time out as with a lost route.
fault_store_pod() {
  local r=$1 target=$2 action=$3 node id rn nn sock pid pc tag="pgfed cut-store-pod"
  pc=$(pod_container "$r" "$target" "")
  read -r node id <<<"$pc"
  pc=$(parse_node "$node")
  read -r rn nn <<<"$pc"
  sock=$(node_dir "$rn" "$nn")/containerd.sock
  pid=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io tasks ls | awk -v id="$id" '$1==id{print $2}')
  [ -n "$pid" ] || die "no running container in $target"
  local rule=(OUTPUT -d "$KM_S3_IP" -m comment --comment "$tag" -j DROP)
  case $action in
    cut)
      nsenter -t "$pid" -n iptables -C "${rule[@]}" 2>/dev/null || nsenter -t "$pid" -n iptables -I "${rule[@]}"
      log "cut $target off the object store" ;;
    heal)
      while nsenter -t "$pid" -n iptables -D "${rule[@]}" 2>/dev/null; do :; done
      log "healed $target's route to the object store" ;;
  esac
}

# fault_kill_process R NS/POD [CONTAINER] [SIGNAL] [PROCESS-NAME] [TEXT]: signal the container's
# main process, or the process in the container whose command name is PROCESS-NAME (e.g. postgres,
# leaving the instance manager alive), or every process whose command line holds TEXT (PostgreSQL
# shows a process's role there, e.g. walsender). The kubelet sees an exit as it would any crash;
# SIGSTOP freezes a process (a walsender that no longer sends), SIGCONT thaws it.
fault_kill_process() {
  local r=$1 target=$2 c=${3:-} sig=${4:-KILL} pname=${5:-} match=${6:-} node id rn nn sock pids p pp killed=0 pc
  pc=$(pod_container "$r" "$target" "$c")
  read -r node id <<<"$pc"
  pc=$(parse_node "$node")
  read -r rn nn <<<"$pc"
  sock=$(node_dir "$rn" "$nn")/containerd.sock
  if [ -n "$match" ]; then
    pids=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io tasks ps "$id" | awk 'NR>1{print $1}' |
      while read -r p; do
        # A process may exit between the listing and this read: not a match, not an error.
        if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -qF -- "$match"; then echo "$p"; fi
      done)
  elif [ -z "$pname" ]; then
    pids=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io tasks ls | awk -v id="$id" '$1==id{print $2}')
  else
    pids=$("$(containerd_bin ctr)" -a "$sock" -n k8s.io tasks ps "$id" | awk 'NR>1{print $1}' |
      while read -r p; do if [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$pname" ]; then echo "$p"; fi; done)
    # Only the matching process whose parent does not match (the postmaster, not its children,
    # which may have started in the same clock tick): that is the one that "crashes".
    pids=$(for p in $pids; do
      pp=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
      [ "$(cat "/proc/$pp/comm" 2>/dev/null)" = "$pname" ] || echo "$p"
    done | sort -n | head -n1)
  fi
  [ -n "$pids" ] || die "no process ${match:-${pname:-main}} in container $id of $target"
  for p in $pids; do kill -s "$sig" "$p" && killed=$((killed + 1)); done
  log "sent SIG$sig to pid(s) ${pids//$'\n'/ } (${match:-${pname:-main process}}) of $target on $node"
}

fault_delete_pod() {
  local r=$1 ns=${2%%/*} pod=${2#*/} force=${3:-}
  if [ "$force" = --force ]; then
    kctx "$r" -n "$ns" delete pod "$pod" --grace-period=0 --force --wait=false
  else
    kctx "$r" -n "$ns" delete pod "$pod" --wait=false
  fi
}

# A powered-off machine also stops forwarding: its link goes down (the kernel drops the routes through
# it; the region's multipath service route keeps only the live nodes), otherwise the namespace's
# leftover kube-proxy rules would keep answering for ClusterIPs.
fault_stop_node() {
  node_stop "$1" "$2"
  ip link set "$(node_veth "$1" "$2")" down
  log "node $(node_name "$1" "$2") powered off (kubelet, containerd, kube-proxy and all its containers killed, link down)"
}
fault_start_node() {
  local r=$1 n=$2
  daemon_alive "$(node_name "$r" "$n")-kubelet" && { log "node $(node_name "$r" "$n") is already running"; return 0; }
  ip link set "$(node_veth "$r" "$n")" up
  ip route replace "$(node_pod_cidr "$r" "$n")" via "$(node_ip "$r" "$n")" dev "$(node_veth "$r" "$n")"
  net_region_routes "$r"
  node_start "$r" "$n"
  log "node $(node_name "$r" "$n") started (link up, containerd, kubelet, kube-proxy)"
}
